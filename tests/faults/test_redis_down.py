"""Disruptive: stops the stack's Redis and checks ContentService keeps answering, uncached, and says
so: it stays SERVING while its readiness view reports the cache missing.

Kept in its own module; Redis is restarted in `finally` whatever happens.
"""

from __future__ import annotations

import grpc
from google.protobuf import field_mask_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devstack import Stack
from teaching.content.v1 import content_service_pb2 as pb
from tests.ingest.helpers import wait_for

SERVING = health_pb2.HealthCheckResponse.SERVING


def _content_health(stack: Stack) -> dict[str, int]:
    with grpc.insecure_channel(stack.address("content")) as channel:
        response = health_pb2_grpc.HealthStub(channel).List(health_pb2.HealthListRequest(), timeout=5)
    return {name: status.status for name, status in response.statuses.items()}


def test_service_answers_while_redis_is_down(stack, content_stub, teacher, textbook):
    outline_request = pb.GetBookOutlineRequest(book_id=str(textbook.book_id))
    before = content_stub.GetBookOutline(outline_request, metadata=teacher)  # cached while Redis is up
    created = content_stub.CreatePedagogyStrategy(
        pb.CreatePedagogyStrategyRequest(strategy=pb.PedagogyStrategy(name="Before the outage")), metadata=teacher
    ).strategy
    listed_before = content_stub.ListPedagogyStrategies(pb.ListPedagogyStrategiesRequest(), metadata=teacher)
    stack.stop_process("redis")
    try:
        wait_for(lambda: _content_health(stack)["dependency/redis"] != SERVING, "the cache to be reported down",
                 timeout=15)
        # Degraded, not down: the service still serves (Envoy keeps routing to it).
        assert _content_health(stack)["teaching.content.v1.ContentService"] == SERVING
        for _ in range(3):
            assert content_stub.GetBookOutline(outline_request, metadata=teacher) == before
            assert content_stub.ListPedagogyStrategies(
                pb.ListPedagogyStrategiesRequest(), metadata=teacher
            ) == listed_before
        renamed = content_stub.UpdatePedagogyStrategy(
            pb.UpdatePedagogyStrategyRequest(
                strategy=pb.PedagogyStrategy(strategy_id=created.strategy_id, name="During the outage"),
                update_mask=field_mask_pb2.FieldMask(paths=["name"]),
            ),
            metadata=teacher,
        ).strategy
        names = {s.name for s in content_stub.ListPedagogyStrategies(
            pb.ListPedagogyStrategiesRequest(scope=pb.PEDAGOGY_SCOPE_PRIVATE), metadata=teacher).strategies}
        assert names == {renamed.name}
        results = content_stub.SearchContent(
            pb.SearchContentRequest(query="membrane", book_ids=[str(textbook.book_id)]), metadata=teacher
        ).results
        assert results and "membrane" in results[0].text
    finally:
        stack.start_process("redis")
    wait_for(lambda: _content_health(stack)["dependency/redis"] == SERVING, "the cache to be back", timeout=15)
    # Back up: the change made while Redis was down is what the (possibly cached) list shows.
    names = {s.name for s in content_stub.ListPedagogyStrategies(
        pb.ListPedagogyStrategiesRequest(scope=pb.PEDAGOGY_SCOPE_PRIVATE), metadata=teacher).strategies}
    assert names == {"During the outage"}
    assert content_stub.GetBookOutline(outline_request, metadata=teacher) == before
