"""The token matrix: forged, expired, mis-addressed and malformed tokens and every roles variant,
against a teacher RPC of each kind and an admin RPC, through gRPC and through Envoy's JSON front.
A token is either refused (UNAUTHENTICATED / 401), or valid and judged by its roles (PERMISSION_DENIED /
403 when they do not allow the call); nothing in between, and the refusal never echoes the token."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from devstack import Stack
from teaching.content.v1 import content_service_pb2 as content_pb
from teaching.ingest.v1 import ingest_service_pb2 as ingest_pb
from teaching.user.v1 import user_service_pb2 as user_pb
from tests.envoy.web import http_request
from tests.reliability.rpcs import HTTP_STATUS, RPCS, Rpc, assert_json_error, call_grpc, error_info

Code = grpc.StatusCode
OK, DENIED, REFUSED = Code.OK, Code.PERMISSION_DENIED, Code.UNAUTHENTICATED


@dataclass(frozen=True)
class Target:
    rpc: Rpc
    request: bytes
    http: tuple[str, str]  # method and path of the JSON route
    admin_only: bool


def _rpc(label: str) -> Rpc:
    return next(rpc for rpc in RPCS if rpc.label == label)


TARGETS = {
    "profile": Target(_rpc("UserService.GetProfile"), user_pb.GetProfileRequest().SerializeToString(),
                      ("GET", "/v1/profile"), admin_only=False),
    "strategies": Target(_rpc("ContentService.ListPedagogyStrategies"),
                         content_pb.ListPedagogyStrategiesRequest().SerializeToString(),
                         ("GET", "/v1/pedagogy-strategies"), admin_only=False),
    "ingest-jobs": Target(_rpc("IngestService.ListIngestJobs"), ingest_pb.ListIngestJobsRequest().SerializeToString(),
                          ("GET", "/v1/ingest-jobs"), admin_only=True),
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class Minter:
    """Tokens for the stack's issuer, audience and secret, and every way of getting them wrong."""

    def __init__(self, stack: Stack) -> None:
        self.secret = stack.settings.jwt_secret.get_secret_value()
        self.issuer = stack.settings.jwt_issuer
        self.audience = stack.settings.jwt_audience

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {"sub": "token-matrix", "roles": ["teacher"], "iat": now, "exp": now + 600,
                                  "iss": self.issuer, "aud": self.audience}
        claims.update(changes)
        return {key: value for key, value in claims.items() if value is not DROP}

    def sign(self, **changes: Any) -> str:
        return jwt.encode(self.claims(**changes), self.secret, algorithm="HS256")


DROP = object()  # a claim left out
Header = Callable[[Minter], str | None]  # the authorization header a case sends (None: no header)


def bearer(**changes: Any) -> Header:
    return lambda minter: f"Bearer {minter.sign(**changes)}"


def _tampered(minter: Minter) -> str:
    header, _, signature = minter.sign().split(".")
    payload = _b64(json.dumps(minter.claims(roles=["admin"])).encode())
    return f"Bearer {header}.{payload}.{signature}"


def _attackers_rs256(minter: Minter) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return f"Bearer {jwt.encode(minter.claims(roles=['admin']), key, algorithm='RS256')}"


@dataclass(frozen=True)
class TokenCase:
    header: Header
    teacher_rpc: Code  # what a teacher RPC answers
    admin_rpc: Code  # what an admin RPC answers


CASES: dict[str, TokenCase] = {
    # Valid tokens, judged by their roles.
    "teacher": TokenCase(bearer(roles=["teacher"]), OK, DENIED),
    "admin": TokenCase(bearer(roles=["admin"]), OK, OK),
    "teacher-and-admin": TokenCase(bearer(roles=["teacher", "admin"]), OK, OK),
    "role-as-a-string": TokenCase(bearer(roles="teacher"), OK, DENIED),
    "unknown-role-beside-teacher": TokenCase(bearer(roles=["teacher", "superuser"]), OK, DENIED),
    "no-roles-claim": TokenCase(bearer(roles=DROP), DENIED, DENIED),
    "empty-roles": TokenCase(bearer(roles=[]), DENIED, DENIED),
    "unknown-role-only": TokenCase(bearer(roles=["superuser"]), DENIED, DENIED),
    "role-in-wrong-case": TokenCase(bearer(roles=["Teacher", "ADMIN"]), DENIED, DENIED),
    # Tokens that are refused whatever they claim.
    "roles-not-a-list": TokenCase(bearer(roles=5), REFUSED, REFUSED),
    "roles-not-strings": TokenCase(bearer(roles=["teacher", 5]), REFUSED, REFUSED),
    "forged-signature": TokenCase(lambda m: f"Bearer {jwt.encode(m.claims(roles=['admin']), 'x' * 48)}",
                                  REFUSED, REFUSED),
    "tampered-payload": TokenCase(_tampered, REFUSED, REFUSED),
    "expired": TokenCase(bearer(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600), REFUSED, REFUSED),
    "not-yet-valid": TokenCase(bearer(nbf=int(time.time()) + 3600), REFUSED, REFUSED),
    "alg-none": TokenCase(lambda m: f"Bearer {jwt.encode(m.claims(roles=['admin']), None, algorithm='none')}",  # type: ignore[arg-type]
                          REFUSED, REFUSED),
    "wrong-alg-hs512": TokenCase(lambda m: f"Bearer {jwt.encode(m.claims(), m.secret, algorithm='HS512')}",
                                 REFUSED, REFUSED),
    "attackers-rs256-key": TokenCase(_attackers_rs256, REFUSED, REFUSED),
    "wrong-audience": TokenCase(bearer(aud="someone-else"), REFUSED, REFUSED),
    "no-audience": TokenCase(bearer(aud=DROP), REFUSED, REFUSED),
    "wrong-issuer": TokenCase(bearer(iss="https://evil.example"), REFUSED, REFUSED),
    "no-issuer": TokenCase(bearer(iss=DROP), REFUSED, REFUSED),
    "no-expiry": TokenCase(bearer(exp=DROP), REFUSED, REFUSED),
    "no-subject": TokenCase(bearer(sub=DROP), REFUSED, REFUSED),
    "empty-subject": TokenCase(bearer(sub=""), REFUSED, REFUSED),
    "subject-not-a-string": TokenCase(bearer(sub=12345), REFUSED, REFUSED),
    "not-a-jwt": TokenCase(lambda m: "Bearer not.a.jwt", REFUSED, REFUSED),
    "huge-garbage": TokenCase(lambda m: "Bearer " + "A" * 60_000, REFUSED, REFUSED),
    "empty-bearer": TokenCase(lambda m: "Bearer ", REFUSED, REFUSED),
    "basic-scheme": TokenCase(lambda m: f"Basic {m.sign()}", REFUSED, REFUSED),
    "no-header": TokenCase(lambda m: None, REFUSED, REFUSED),
}


@pytest.fixture(scope="module")
def minter(stack: Stack) -> Minter:
    return Minter(stack)


def _params() -> list[Any]:
    params = []
    for name, case in CASES.items():
        for target_name, target in TARGETS.items():
            expected = case.admin_rpc if target.admin_only else case.teacher_rpc
            params.append(pytest.param(name, target_name, expected, id=f"{name}-{target_name}"))
    return params


@pytest.mark.parametrize("case_name, target_name, expected", _params())
def test_token_over_grpc(case_name: str, target_name: str, expected: Code, minter: Minter,
                         channels: dict[str, grpc.Channel]) -> None:
    header = CASES[case_name].header(minter)
    target = TARGETS[target_name]
    metadata = (("authorization", header),) if header is not None else ()
    error = call_grpc(channels[target.rpc.target], target.rpc, target.request, metadata)
    code = Code.OK if error is None else error.code()
    assert code == expected, error.details() if error is not None else "OK"
    if error is not None:
        assert len(error.details() or "") < 300, "the refusal echoes the token"
        info = error_info(error)
        assert info is not None and info.reason == expected.name, info


@pytest.mark.parametrize("case_name, target_name, expected", _params())
def test_token_over_json(case_name: str, target_name: str, expected: Code, minter: Minter, front: str) -> None:
    header = CASES[case_name].header(minter)
    method, path = TARGETS[target_name].http
    reply = http_request(front, method, path, headers={"authorization": header} if header is not None else {})
    assert reply.status == HTTP_STATUS[expected], reply.body[:300]
    if expected != Code.OK:
        assert assert_json_error(reply)["code"] == expected.value[0]


def test_the_caller_is_checked_before_the_request_bytes(channels: dict[str, grpc.Channel]) -> None:
    """Garbage from an unknown caller is refused for the caller: nothing about the request is revealed."""
    target = TARGETS["profile"]
    error = call_grpc(channels[target.rpc.target], target.rpc, b"\xff\xff\xff", ())
    assert error is not None and error.code() == Code.UNAUTHENTICATED
