"""The shared package in isolation: page tokens and the server bootstrap's graceful drain."""

from __future__ import annotations

import threading
import time
from typing import Any

import grpc
import pytest

from common.auth import mint_token
from common.errors import InvalidArgument
from common.pagination import PageTokens, page_size
from common.server import ServiceServer
from common.settings import Settings


def test_page_tokens_round_trip_and_refuse_tampering() -> None:
    tokens = PageTokens(b"secret")
    token = tokens.encode({"after": "2026-01-01", "id": "x"}, query={"kind": 1})
    assert tokens.decode(token, query={"kind": 1}) == {"after": "2026-01-01", "id": "x"}
    assert tokens.decode("", query={"kind": 1}) is None
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    for bad in (flipped, "garbage!", token[:10]):
        with pytest.raises(InvalidArgument) as error:
            tokens.decode(bad, query={"kind": 1})
        assert "page_token" in error.value.violations
    with pytest.raises(InvalidArgument, match="different query"):
        tokens.decode(token, query={"kind": 2})
    with pytest.raises(InvalidArgument):
        PageTokens(b"other").decode(token, query={"kind": 1})


def test_page_size_defaults_caps_and_refuses_negatives() -> None:
    assert page_size(0) == 50
    assert page_size(7) == 7
    assert page_size(10_000) == 200
    with pytest.raises(InvalidArgument):
        page_size(-1)


def test_stop_drains_in_flight_calls_and_refuses_new_ones(unused_port: int) -> None:
    started = threading.Event()

    def slow(request: bytes, context: grpc.ServicerContext) -> bytes:
        started.set()
        time.sleep(1.0)
        return b"done:" + request

    def register(server: grpc.Server) -> None:
        handler = grpc.unary_unary_rpc_method_handler(slow)
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Slow", {"Call": handler})])

    settings = Settings(shutdown_grace_seconds=5)
    server = ServiceServer(settings, port=unused_port, service_names=["test.Slow"], register=register)
    server.start()
    result: dict[str, Any] = {}
    metadata = [("authorization", f"Bearer {mint_token(settings, 'drain-test', ['teacher'])}")]
    with grpc.insecure_channel(f"127.0.0.1:{unused_port}") as channel:
        call = channel.unary_unary("/test.Slow/Call")

        def in_flight() -> None:
            result["value"] = call(b"x", metadata=metadata, timeout=10)

        thread = threading.Thread(target=in_flight)
        thread.start()
        assert started.wait(5)
        stopper = threading.Thread(target=server.stop)
        stopper.start()
        time.sleep(0.2)
        with pytest.raises(grpc.RpcError):
            call(b"late", metadata=metadata, timeout=2)
        thread.join(10)
        stopper.join(10)
    assert result["value"] == b"done:x"
