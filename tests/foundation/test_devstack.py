"""The embedded stack as a person uses it: tokens, one instance per data folder, restarts, migrations."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grpc
import psycopg
import pytest

from common.migrations import apply_migrations
from devstack import Stack
from teaching.content.v1 import content_service_pb2, content_service_pb2_grpc

REPO = Path(__file__).resolve().parents[2]


def devstack_cli(stack: Stack, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEVSTACK_DATA": str(stack.data_dir)}
    return subprocess.run([sys.executable, "-m", "devstack", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_make_token_prints_a_token_the_running_suite_accepts(stack: Stack) -> None:
    env = {**os.environ, "DEVSTACK_DATA": str(stack.data_dir)}
    result = subprocess.run(["make", "-s", "token", "USER=token-user", "ROLE=admin"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    with grpc.insecure_channel(stack.address("content")) as channel:
        stub = content_service_pb2_grpc.ContentServiceStub(channel)
        # Any error (not only UNAUTHENTICATED) fails the test: the suite must answer the call.
        stub.ListBooks(content_service_pb2.ListBooksRequest(), metadata=[("authorization", f"Bearer {token}")],
                       timeout=10)


def test_a_second_instance_on_the_same_data_refuses_to_start(stack: Stack) -> None:
    result = devstack_cli(stack, "up", "--no-envoy")
    assert result.returncode == 1
    assert "already running" in result.stderr
    # ...and the first one is untouched.
    assert stack.dead_processes() == []


def test_migrations_are_applied_once_and_enable_pgvector(stack: Stack) -> None:
    assert apply_migrations("content", stack.settings) == []
    assert apply_migrations("user", stack.settings) == []
    with psycopg.connect(stack.settings.content_conninfo()) as conn:
        row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
    assert row is not None


def test_a_vanished_cluster_is_an_error_not_a_fresh_empty_database(tmp_path: Path) -> None:
    import shutil
    import tempfile

    from devstack import StackPorts
    from devstack.stack import StackError

    data_dir = Path(tempfile.mkdtemp(prefix="teaching-vanish-"))
    lone = Stack(data_dir, StackPorts.free(), with_envoy=False, durable=False)
    try:
        lone.start_process("postgres")
        lone.stop_process("postgres")
        shutil.rmtree(data_dir / "postgres")
        with pytest.raises(StackError, match="vanished"):
            lone.start_process("postgres")
    finally:
        lone.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
