"""Disruptive: a service whose optional dependency is down stays SERVING (Envoy keeps routing to it)
and its readiness view names what it is missing; both follow the dependency back."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devstack import Stack
from tests.ingest.helpers import wait_for

SERVING = health_pb2.HealthCheckResponse.SERVING


def _health(stack: Stack, name: str) -> dict[str, int]:
    with grpc.insecure_channel(stack.address(name)) as channel:
        response = health_pb2_grpc.HealthStub(channel).List(health_pb2.HealthListRequest(), timeout=5)
    return {service: status.status for service, status in response.statuses.items()}


def test_user_service_without_content_service_is_degraded_not_down(stack: Stack) -> None:
    servers = stack.replicas_of("content")
    for name in servers:
        stack.stop_process(name)
    try:
        wait_for(lambda: _health(stack, "user")["dependency/content_service"] != SERVING,
                 "UserService to report ContentService missing", timeout=20)
        statuses = _health(stack, "user")
        assert statuses["teaching.user.v1.UserService"] == SERVING
        assert statuses["dependency/db_user"] == SERVING
    finally:
        for name in servers:
            stack.start_process(name)
    wait_for(lambda: _health(stack, "user")["dependency/content_service"] == SERVING,
             "UserService to see ContentService back", timeout=20)
