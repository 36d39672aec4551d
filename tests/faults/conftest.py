"""Disruptive tests (stopping, killing and restarting Postgres, Redis, workers, services) run on a
stack of their own, started for this folder and stopped after it, so a failed restore cannot break
the shared stack of the other tests. The fixtures keep their usual names (`stack`, `auth`, stubs)."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Callable

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devstack import Stack
from tests.conftest import stack_fixtures
from tests.content.support import Textbook, load, textbook_parsed
from tests.ingest.helpers import wait_for

# ContentService runs as two replicas behind Envoy (tests/faults/test_replicas.py kills and restarts one).
# Durable (fsync, synchronous commits) like production: Postgres and Redis are killed here, and what
# they acknowledged must survive.
stack, make_token, auth, content_stub, user_stub, ingest_stub = stack_fixtures(
    "package", "teaching-fault-stack-", replicas={"content": 2}, durable=True)


@pytest.fixture(scope="package")
def textbook(stack: Stack) -> Textbook:
    book = textbook_parsed()
    return Textbook(book_id=load(stack.settings.content_conninfo(), book), book=book)


@pytest.fixture
def teacher(auth: Callable[..., list[tuple[str, str]]]) -> list[tuple[str, str]]:
    return auth(f"teacher-{uuid.uuid4().hex[:8]}", "teacher")


def _serving(stack: Stack, process: str) -> bool:
    try:
        with grpc.insecure_channel(stack.address(process)) as channel:
            response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
    except grpc.RpcError:
        return False
    return bool(response.status == health_pb2.HealthCheckResponse.SERVING)


def _front_sees_every_replica_healthy(stack: Stack) -> bool:
    url = f"http://127.0.0.1:{stack.ports.envoy_admin}/clusters?format=json"
    with urllib.request.urlopen(url, timeout=5) as response:
        clusters = json.loads(response.read())["cluster_statuses"]
    return all(host["health_status"] == {"eds_health_status": "HEALTHY"}
               for cluster in clusters for host in cluster.get("host_statuses", []))


@pytest.fixture(autouse=True)
def whole_stack(stack: Stack) -> None:
    """Each disruptive test starts from a whole stack: every process running (one a failed test left
    down is started), every service SERVING (its dependencies back), and the front routing to every
    replica again (its health checks and outlier ejections caught up with the previous disruption)."""
    for name in stack.names():
        stack.start_process(name)  # a no-op for a running process
    services = [name for service in ("content", "user", "ingest") for name in stack.replicas_of(service)]
    wait_for(lambda: all(_serving(stack, name) for name in services), "every service to be SERVING", timeout=60)
    if stack.with_envoy:
        wait_for(lambda: _front_sees_every_replica_healthy(stack), "the front to see every replica healthy",
                 timeout=60)
