"""The bad-input matrix: every RPC, generated from the descriptors, through gRPC and through Envoy's
JSON front. Each case corrupts one thing of a well-formed request (tests/reliability/baselines.py)
and names the statuses it may get; none may be UNKNOWN, INTERNAL or a 5xx, and every error carries
an ErrorInfo of the suite (JSON errors as {code, message, details}).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.api import field_behavior_pb2
from google.protobuf.descriptor import FieldDescriptor

from tests.reliability.baselines import INTEGER_TYPES, Ids, baseline
from tests.reliability.conftest import Holdings
from tests.reliability.rpcs import (
    ERROR_DOMAIN,
    HTTP_STATUS,
    RPCS,
    UTF8_MARKER,
    Path,
    Rpc,
    assert_json_error,
    behaviors,
    call_grpc,
    error_info,
    grpc_payload,
    http_call,
    leaves,
    location,
    path_text,
    set_value,
)

Code = grpc.StatusCode
REFUSED = frozenset({Code.INVALID_ARGUMENT})
# Clear answers a corrupted value may get when the field's effect depends on the RPC.
CLEAR = frozenset({Code.OK, Code.INVALID_ARGUMENT, Code.NOT_FOUND, Code.FAILED_PRECONDITION, Code.ABORTED,
                   Code.OUT_OF_RANGE})
HUGE = 1024 * 1024  # characters of a "huge" string
HUGE_IN_URL = 16 * 1024  # in a path or query parameter (Envoy refuses URLs beyond 60 KiB)
INT_LIMITS = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1), FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1), FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1), FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
INT64_LIMITS = (-(2**63), 2**63 - 1)

# Fields an RPC reads nothing from, so any value is accepted: AIP-154's etag means nothing on create.
IGNORED_FIELDS = {("UserService.CreateArtifact", "artifact.etag")}

PLACEHOLDER_IDS = Ids(book_id=str(uuid.UUID(int=1)), node_id=str(uuid.UUID(int=2)), atom_id=str(uuid.UUID(int=3)),
                      strategy_id=str(uuid.UUID(int=4)), artifact_id=str(uuid.UUID(int=5)),
                      job_id=str(uuid.UUID(int=6)), etag=lambda: "etag")


@dataclass(frozen=True)
class Case:
    rpc: Rpc
    kind: str
    path: Path = ()
    allowed: frozenset[grpc.StatusCode] = REFUSED

    @property
    def id(self) -> str:
        return "-".join(part for part in (self.rpc.label, self.kind, path_text(self.path)) if part)

    def __repr__(self) -> str:
        return self.id

    def param(self) -> Any:
        return pytest.param(self, id=self.id)


def _primary(rpc: Rpc, path: Path) -> bool:
    """Whether the field names the resource the RPC acts on: REQUIRED, or a variable of its HTTP path."""
    in_url = rpc.http is not None and location(rpc.http, path) == "path"
    return in_url or field_behavior_pb2.REQUIRED in behaviors(path[-1][0])


def _ignored(rpc: Rpc, path: Path) -> bool:
    """A field the RPC ignores: OUTPUT_ONLY or IMMUTABLE ones a request may carry (AIP-203), and a few more."""
    return (rpc.label, path_text(path)) in IGNORED_FIELDS or any(
        behaviors(field) & {field_behavior_pb2.OUTPUT_ONLY, field_behavior_pb2.IMMUTABLE} for field, _ in path)


def _field_cases(rpc: Rpc, path: Path) -> list[Case]:
    field = path[-1][0]
    maybe_ok = frozenset({Code.OK}) if _ignored(rpc, path) else frozenset()
    if field.type == FieldDescriptor.TYPE_STRING:
        cases = [Case(rpc, "nul", path), Case(rpc, "utf8", path),
                 Case(rpc, "huge", path, frozenset({Code.INVALID_ARGUMENT, Code.NOT_FOUND, Code.ABORTED}) | maybe_ok)]
        if field.name.endswith(("_id", "_ids")):
            unknown = frozenset({Code.NOT_FOUND}) if _primary(rpc, path) else CLEAR
            if rpc.name.startswith("BatchGet"):
                unknown = frozenset({Code.OK})  # the response lists unknown ids as missing (issue 12)
            cases.append(Case(rpc, "unknown_id", path, unknown))
        return cases
    if field.type in INTEGER_TYPES:
        return [Case(rpc, "min", path, CLEAR), Case(rpc, "max", path, CLEAR)]
    if field.type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        return [Case(rpc, "nan", path, REFUSED | maybe_ok), Case(rpc, "inf", path, REFUSED | maybe_ok)]
    if field.type == FieldDescriptor.TYPE_ENUM:
        return [Case(rpc, "unknown_enum", path, REFUSED | maybe_ok)]
    return []


def grpc_cases() -> list[Any]:
    cases: list[Case] = []
    for rpc in RPCS:
        cases.append(Case(rpc, "empty", allowed=frozenset({Code.OK, Code.INVALID_ARGUMENT, Code.NOT_FOUND})))
        cases.append(Case(rpc, "garbage"))
        for path in leaves(baseline(rpc, PLACEHOLDER_IDS)):
            cases.extend(_field_cases(rpc, path))
    return [case.param() for case in cases]


def _corrupt_value(case: Case, *, in_url: bool = False) -> Any:
    field = case.path[-1][0]
    if case.kind == "nul":
        return "before\x00after"
    if case.kind == "utf8":
        return UTF8_MARKER
    if case.kind == "huge":
        return "x" * (HUGE_IN_URL if in_url else HUGE)
    if case.kind == "unknown_id":
        return str(uuid.uuid4())
    if case.kind in ("min", "max"):
        low, high = INT_LIMITS.get(field.type, INT64_LIMITS)
        return low if case.kind == "min" else high
    if case.kind == "nan":
        return math.nan
    if case.kind == "inf":
        return math.inf
    if case.kind == "unknown_enum":
        return 99
    raise AssertionError(f"no value for {case.kind}")


def _request_bytes(case: Case, ids: Ids) -> bytes:
    if case.kind == "garbage":
        return b"\xff\xff\xff\xff\x0f"
    if case.kind == "empty":
        return b""
    request = baseline(case.rpc, ids)
    set_value(request, case.path, _corrupt_value(case))
    return grpc_payload(request)


@pytest.mark.parametrize("case", grpc_cases())
def test_grpc_bad_input(case: Case, matrix_caller: Holdings, channels: dict[str, grpc.Channel]) -> None:
    payload = _request_bytes(case, matrix_caller.ids())
    error = call_grpc(channels[case.rpc.target], case.rpc, payload, matrix_caller.teacher.metadata)
    code = Code.OK if error is None else error.code()
    assert code in case.allowed, f"{code.name}: {(error.details() or '')[:300] if error is not None else ''}"
    if error is not None:
        info = error_info(error)
        assert info is not None and info.domain == ERROR_DOMAIN and info.reason, f"no ErrorInfo: {error.details()}"


# -- JSON through Envoy ---------------------------------------------------------------------------------

ENVOY_REFUSED = frozenset({400})  # the transcoder refuses the body or parameter itself


@dataclass(frozen=True)
class JsonCase:
    case: Case
    statuses: frozenset[int]

    def param(self) -> Any:
        return pytest.param(self, id=self.case.id)


def _wrong_type(field: FieldDescriptor) -> Any:
    """A JSON value the proto3 JSON mapping cannot read into `field`."""
    if field.type == FieldDescriptor.TYPE_STRING:
        return {"not": "a string"}
    if field.type == FieldDescriptor.TYPE_ENUM:
        return ["not", "an", "enum"]
    if field.type == FieldDescriptor.TYPE_BOOL:
        return "maybe"
    return "not a number"


def json_cases() -> list[Any]:
    cases: list[JsonCase] = []
    for rpc in RPCS:
        if rpc.http is None:
            continue
        cases.append(JsonCase(Case(rpc, "empty"), frozenset({200, 400, 404})))
        if rpc.http.body:
            cases.append(JsonCase(Case(rpc, "not_json"), ENVOY_REFUSED))
        for path in leaves(baseline(rpc, PLACEHOLDER_IDS)):
            for case in _field_cases(rpc, path):
                statuses = frozenset(HTTP_STATUS[code] for code in case.allowed)
                if case.kind == "unknown_enum":  # by name: the transcoder refuses names it does not know
                    statuses = ENVOY_REFUSED
                cases.append(JsonCase(case, statuses))
            # Anything is a string in a URL: a string field can have the wrong type only in a body.
            if path[-1][0].type != FieldDescriptor.TYPE_STRING or location(rpc.http, path) == "body":
                cases.append(JsonCase(Case(rpc, "wrong_type", path), ENVOY_REFUSED))
    return [case.param() for case in cases]


def _json_value(case: Case, in_url: bool) -> Any:
    field = case.path[-1][0]
    if case.kind == "wrong_type":
        return _wrong_type(field)
    if case.kind == "unknown_enum":
        return "NOT_A_VALUE"
    if case.kind in ("nan", "inf"):
        return "NaN" if case.kind == "nan" else "Infinity"  # proto3 JSON spells them as strings
    value = _corrupt_value(case, in_url=in_url)
    return str(value) if in_url else value


@pytest.mark.parametrize("json_case", json_cases())
def test_json_bad_input(json_case: JsonCase, matrix_caller: Holdings, front: str) -> None:
    case = json_case.case
    request = baseline(case.rpc, matrix_caller.ids()) if case.kind != "empty" else case.rpc.request()
    call = http_call(case.rpc, request)
    raw_body = b"{not json" if case.kind == "not_json" else None
    if case.path:
        assert case.rpc.http is not None
        call.put(case.path, _json_value(case, in_url=location(case.rpc.http, case.path) != "body"))
    reply = call.send(front, matrix_caller.teacher.token, raw_body=raw_body)
    assert reply.status in json_case.statuses, f"{reply.status}: {reply.body[:300]!r}"
    if reply.status != 200:
        assert_json_error(reply)


def test_every_rpc_is_in_both_matrices() -> None:
    """A new RPC lands in the matrices by itself; this counts what they cover."""
    grpc_ids = {param.id for param in grpc_cases()}
    json_ids = {param.id for param in json_cases()}
    for rpc in RPCS:
        assert f"{rpc.label}-garbage" in grpc_ids
        assert (f"{rpc.label}-empty" in json_ids) == (rpc.http is not None)
    assert len(RPCS) >= 26
