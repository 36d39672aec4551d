"""The shared package in isolation: page tokens and the server bootstrap's graceful drain."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import grpc
import psycopg
import pytest
from pydantic import SecretStr

from common.auth import mint_token
from common.db import user_pool
from common.errors import InvalidArgument
from common.pagination import PageTokens, page_size
from common.server import ServiceServer
from common.settings import Settings
from devstack import Stack


def test_page_tokens_round_trip() -> None:
    tokens = PageTokens(b"secret")
    token = tokens.encode({"after": "2026-01-01", "id": "x"}, query={"kind": 1})
    assert tokens.decode(token, query={"kind": 1}) == {"after": "2026-01-01", "id": "x"}
    assert tokens.decode("", query={"kind": 1}) is None


def _flipped(token: str) -> str:
    return token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]


@pytest.mark.parametrize(
    ("tamper", "secret", "query", "message"),
    [
        (_flipped, b"secret", {"kind": 1}, "malformed or tampered"),
        (lambda _: "garbage!", b"secret", {"kind": 1}, "malformed or tampered"),
        (lambda token: token[:10], b"secret", {"kind": 1}, "malformed or tampered"),
        (lambda token: token, b"secret", {"kind": 2}, "different query"),
        (lambda token: token, b"other", {"kind": 1}, "malformed or tampered"),
    ],
    ids=["flipped character", "garbage", "truncated", "another query", "another secret"],
)
def test_page_tokens_refuse_tampering_and_reuse(
    tamper: Callable[[str], str], secret: bytes, query: dict[str, int], message: str
) -> None:
    token = PageTokens(b"secret").encode({"after": "2026-01-01", "id": "x"}, query={"kind": 1})
    with pytest.raises(InvalidArgument, match=message) as error:
        PageTokens(secret).decode(tamper(token), query=query)
    assert "page_token" in error.value.violations


def test_page_size_defaults_caps_and_refuses_negatives() -> None:
    assert page_size(0) == 50
    assert page_size(7) == 7
    assert page_size(10_000) == 200
    with pytest.raises(InvalidArgument):
        page_size(-1)


def test_stop_drains_in_flight_calls_and_refuses_new_ones(unused_port: int) -> None:
    started, release = threading.Event(), threading.Event()

    def held(request: bytes, context: grpc.ServicerContext) -> bytes:
        if request == b"x":  # the in-flight call: answers once the test lets it
            started.set()
            release.wait(10)
        return b"done:" + request

    def register(server: grpc.Server) -> None:
        handler = grpc.unary_unary_rpc_method_handler(held)
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Held", {"Call": handler})])

    settings = Settings(shutdown_grace_seconds=5, jwt_secret=SecretStr(secrets.token_urlsafe(32)))
    server = ServiceServer(settings, port=unused_port, service_names=["test.Held"], register=register)
    server.start()
    result: dict[str, Any] = {}
    metadata = [("authorization", f"Bearer {mint_token(settings, 'drain-test', ['teacher'])}")]
    with grpc.insecure_channel(f"127.0.0.1:{unused_port}") as channel:
        call = channel.unary_unary("/test.Held/Call")

        def in_flight() -> None:
            result["value"] = call(b"x", metadata=metadata, timeout=10)

        thread = threading.Thread(target=in_flight)
        thread.start()
        assert started.wait(5)
        stopper = threading.Thread(target=server.stop)
        stopper.start()
        # New calls are answered until the stop begins, then refused.
        deadline = time.monotonic() + 10
        while True:
            try:
                call(b"late", metadata=metadata, timeout=2)
            except grpc.RpcError as error:
                # grpc refuses with UNAVAILABLE (GOAWAY), or CANCELLED for a call racing the stop.
                assert error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED), error.details()
                break
            assert time.monotonic() < deadline, "new calls were still answered 10 s after stop()"
        assert thread.is_alive(), "the in-flight call ended before it was let go"
        release.set()
        thread.join(10)
        stopper.join(10)
    assert result["value"] == b"done:x"


def test_a_pool_replaces_a_connection_the_server_ended(stack: Stack) -> None:
    # The checkout check skips its round trip for an idle connection with nothing to read; one the
    # server terminated has its error waiting on the socket, so it must still be caught and replaced.
    pool = user_pool(stack.settings, name="check-test")
    try:
        with pool.connection() as conn:
            doomed = conn.info.backend_pid
        with psycopg.connect(stack.settings.user_conninfo(), autocommit=True) as admin:
            # With a timeout, pg_terminate_backend waits until the backend is gone.
            assert admin.execute("SELECT pg_terminate_backend(%s, 10000)", (doomed,)).fetchone() == (True,)
        with pool.connection() as conn:
            assert conn.execute("SELECT pg_backend_pid()").fetchone() != (doomed,)
    finally:
        pool.close()
