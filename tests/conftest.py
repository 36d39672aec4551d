"""Session fixtures: one real stack (Postgres + pgvector, Redis, the services, a Celery worker and
Envoy) on free ports in a temporary folder, shared by every test of the session."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import grpc
import pytest

from common.auth import mint_token
from devstack import Stack, StackPorts
from teaching.content.v1 import content_service_pb2_grpc
from teaching.ingest.v1 import ingest_service_pb2_grpc
from teaching.user.v1 import user_service_pb2_grpc

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"


def _envoy_available() -> bool:
    return (REPO / "envoy" / "render.py").exists()


@contextlib.contextmanager
def running_stack(prefix: str, replicas: dict[str, int] | None = None,
                  env: dict[str, str] | None = None, *, durable: bool = False) -> Iterator[Stack]:
    """A whole stack on free ports in a fresh temporary folder, stopped and removed afterwards; `env`
    adds to its processes' environment.

    Not durable by default (no fsync, asynchronous commits: fast); a stack whose Postgres or Redis
    is killed must be, or it loses the last acknowledged writes by design, not by a defect.
    """
    # Not under pytest's basetemp: a concurrent pytest session resets that folder's mode to 0700 and
    # prunes old numbered folders, which would cut off (or delete) this session's Postgres cluster.
    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    # Small pools keep many concurrent sessions (and the many-books tests) within max_connections.
    # INGEST_HOLD_DIR: where ingest tests hold a job mid-book (tests/ingest/helpers.py, HeldJob).
    holds = data_dir / "holds"
    holds.mkdir()
    # INGEST_SWEEP_SECONDS: the storage sweeper runs often (its retention and grace stay the defaults,
    # so it removes only what tests/ingest/test_sweeper.py backdates).
    extra_env = {"DB_POOL_MAX_SIZE": "8", "SHUTDOWN_GRACE_SECONDS": "2", "INGEST_HOLD_DIR": str(holds),
                 "INGEST_SWEEP_SECONDS": "1", **(env or {})}
    the_stack = Stack(data_dir, StackPorts.free(), with_envoy=_envoy_available(), durable=durable,
                      extra_env=extra_env, replicas=replicas)
    try:
        the_stack.start()
    except Exception:
        for name in the_stack.names():
            print(f"--- {name} log ---\n{the_stack.log_tail(name)}")
        shutil.rmtree(data_dir, ignore_errors=True)
        raise
    try:
        yield the_stack
    finally:
        the_stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def stack_fixtures(
    scope: Literal["session", "package"], prefix: str, replicas: dict[str, int] | None = None, *,
    durable: bool = False,
) -> tuple[Any, ...]:
    """`stack` and the fixtures bound to it (tokens, stubs) at one scope.

    The root conftest shares one stack with every integration test; tests/faults defines its own set
    (package scope), so disruptive tests never touch the shared stack.
    """

    def stack() -> Iterator[Stack]:
        with running_stack(prefix, replicas, durable=durable) as the_stack:
            yield the_stack

    def make_token(stack: Stack) -> Callable[..., str]:
        def make(user_id: str, *roles: str) -> str:
            return mint_token(stack.settings, user_id, roles or ("teacher",))

        return make

    def auth(make_token: Callable[..., str]) -> Callable[..., list[tuple[str, str]]]:
        def metadata(user_id: str, *roles: str) -> list[tuple[str, str]]:
            return [("authorization", f"Bearer {make_token(user_id, *roles)}")]

        return metadata

    def content_stub(stack: Stack) -> Iterator[content_service_pb2_grpc.ContentServiceStub]:
        with _channel(stack.address("content")) as channel:
            yield content_service_pb2_grpc.ContentServiceStub(channel)

    def user_stub(stack: Stack) -> Iterator[user_service_pb2_grpc.UserServiceStub]:
        with _channel(stack.address("user")) as channel:
            yield user_service_pb2_grpc.UserServiceStub(channel)

    def ingest_stub(stack: Stack) -> Iterator[ingest_service_pb2_grpc.IngestServiceStub]:
        with _channel(stack.address("ingest")) as channel:
            yield ingest_service_pb2_grpc.IngestServiceStub(channel)

    return tuple(
        pytest.fixture(scope=scope)(function)
        for function in (stack, make_token, auth, content_stub, user_stub, ingest_stub)
    )


def _channel(address: str) -> grpc.Channel:
    return grpc.insecure_channel(address, options=[("grpc.max_receive_message_length", 16 * 1024 * 1024)])


# The stack every integration test shares. Tests that stop or kill its processes belong in tests/faults.
stack, make_token, auth, content_stub, user_stub, ingest_stub = stack_fixtures("session", "teaching-test-stack-")


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"test corpus not found at {CORPUS} (it sits beside the repository as ../shared/corpus)")
    return CORPUS


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
