"""Errors Envoy produces itself come back to JSON clients as the services' errors do: a google.rpc.Status
body {code, message, details} with an ErrorInfo (issue 13 item 11). gRPC callers keep Envoy's plain
grpc-status. Unknown JSON body fields and unknown query parameters are both ignored (docs/failures.md)."""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from common.status import ERROR_DOMAIN
from devstack import Stack
from teaching.user.v1 import user_service_pb2 as user_pb
from teaching.user.v1 import user_service_pb2_grpc
from tests.envoy.conftest import ENVOY_BIN, REPO, load_renderer
from tests.envoy.web import Reply, http_request
from tests.reliability.conftest import Teacher
from tests.reliability.rpcs import assert_json_error


def _front_error(reply: Reply, status: int, code: int, reason: str) -> dict[str, Any]:
    assert reply.status == status, reply.body[:300]
    body = assert_json_error(reply)
    assert body["code"] == code, body
    assert body["details"][0]["reason"] == reason, body
    return body


@pytest.fixture(scope="module")
def token(new_teacher: Callable[..., Teacher]) -> str:
    return new_teacher().token


SEARCH = "/v1/content:search"


@pytest.mark.parametrize("method, path, body", [
    ("POST", SEARCH, b"{not json"),
    ("POST", SEARCH, b"[1, 2]"),
    ("POST", SEARCH, b'{"query": "\xff\xfe"}'),
    ("POST", SEARCH, b'{"query": 5}'),
    ("POST", SEARCH, b'{"query": "x", "topK": "many"}'),
    ("POST", SEARCH, b'{"query": "x", "topK": 4294967296}'),
    ("POST", "/v1/pedagogy-strategies", b'{"name": "x", "tags": {"not": "a list"}}'),
    ("POST", SEARCH, b'{"query": "x", "mode": "SEARCH_MODE_TELEPATHY"}'),
    ("GET", "/v1/pedagogy-strategies?scope=PEDAGOGY_SCOPE_EVERYWHERE", None),
    ("GET", "/v1/books?pageSize=ten", None),
    ("GET", "/v1/artifacts/x/revisions/latest", None),
], ids=["not-json", "not-an-object", "not-utf8", "number-for-string", "string-for-int", "int-overflow",
        "object-for-list", "unknown-enum-name-in-body", "unknown-enum-name-in-query", "wrong-type-in-query",
        "wrong-type-in-path"])
def test_requests_the_transcoder_cannot_read_are_json_400(method: str, path: str, body: bytes | None, front: str,
                                                          token: str) -> None:
    headers = {"content-type": "application/json"} if body is not None else {}
    reply = http_request(front, method, path, raw_body=body, token=token, headers=headers)
    body_json = _front_error(reply, 400, 3, "MALFORMED_REQUEST")
    assert body_json["message"], body_json


@pytest.mark.parametrize("method, path", [("GET", "/v1/nothing-here"), ("PUT", "/v1/profile"),
                                          ("GET", "/v2/books"), ("POST", "/v1/books")],
                         ids=["unknown-path", "unknown-method", "unknown-version", "wrong-verb"])
def test_a_route_that_maps_to_no_rpc_is_a_json_404(method: str, path: str, front: str, token: str) -> None:
    reply = http_request(front, method, path, token=token, raw_body=b"{}" if method != "GET" else None,
                         headers={"content-type": "application/json"} if method != "GET" else {})
    _front_error(reply, 404, 5, "UNKNOWN_ROUTE")


def test_a_body_over_the_limit_is_a_json_413(front: str, token: str) -> None:
    huge = {"query": "x" * (5 * 1024 * 1024), "bookIds": [str(uuid.uuid4())]}
    _front_error(http_request(front, "POST", SEARCH, body=huge, token=token), 413, 8, "REQUEST_TOO_LARGE")


def test_a_url_over_the_limit_is_a_json_431(front: str, token: str) -> None:
    reply = http_request(front, "GET", "/v1/books?pageToken=" + "t" * 70_000, token=token)
    _front_error(reply, 431, 8, "REQUEST_TOO_LARGE")


def test_the_front_names_the_services_error_domain() -> None:
    assert load_renderer().ERROR_DOMAIN == ERROR_DOMAIN


def test_unknown_json_fields_and_query_parameters_are_both_ignored(front: str, token: str) -> None:
    plain = http_request(front, "GET", "/v1/pedagogy-strategies?pageSize=2", token=token)
    with_extra = http_request(front, "GET", "/v1/pedagogy-strategies?pageSize=2&notAField=1&_=123", token=token)
    assert (plain.status, with_extra.json()["strategies"]) == (200, plain.json()["strategies"])
    created = http_request(front, "POST", "/v1/pedagogy-strategies", token=token,
                           body={"name": "Exit tickets", "notAField": {"x": 1}, "futureField": [1, 2]})
    assert created.status == 200, created.body[:300]
    assert created.json()["strategy"]["name"] == "Exit tickets"


# -- when the upstream is down: a front of its own, whose user upstream is a closed port -----------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_ready(admin_port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, "the second front exited"
        with socket.socket() as sock:
            listening = sock.connect_ex(("127.0.0.1", admin_port)) == 0
        if listening and http_request(f"127.0.0.1:{admin_port}", "GET", "/ready", timeout=5).status == 200:
            return
        assert time.monotonic() < deadline, "the second front is not ready after 60 s"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def front_without_user_service(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    listen, admin, closed = _free_port(), _free_port(), _free_port()
    host, port = stack.address("content").split(":")
    config = load_renderer().render_envoy_config(
        listen_host="127.0.0.1", listen_port=listen, admin_port=admin, content=[(host, int(port))],
        user=[("127.0.0.1", closed)], ingest=[("127.0.0.1", closed)], reflection=("127.0.0.1", closed),
        descriptor_path=str(REPO / "gen" / "descriptors.binpb"), cors_origins=["http://localhost:3000"],
    )
    path: Path = tmp_path_factory.mktemp("front-without-user") / "envoy.yaml"
    path.write_text(config)
    process = subprocess.Popen([str(ENVOY_BIN), "-c", str(path), "--log-level", "error", "--base-id", str(listen)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_ready(admin, process)
        yield f"127.0.0.1:{listen}"
    finally:
        process.terminate()
        process.wait(30)


def test_an_unreachable_service_is_a_json_503_for_json_clients(front_without_user_service: str, token: str) -> None:
    reply = http_request(front_without_user_service, "GET", "/v1/profile", token=token)
    _front_error(reply, 503, 14, "UNAVAILABLE")
    # The same front still serves what is up.
    assert http_request(front_without_user_service, "GET", "/v1/books", token=token).status == 200


def test_grpc_callers_keep_envoys_plain_status(front_without_user_service: str, token: str) -> None:
    with grpc.insecure_channel(front_without_user_service) as channel:
        stub = user_service_pb2_grpc.UserServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetProfile(user_pb.GetProfileRequest(), metadata=(("authorization", f"Bearer {token}"),), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert not (caught.value.details() or "").startswith("{"), "a gRPC caller got the JSON body"
