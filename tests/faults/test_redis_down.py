"""Disruptive: stops the stack's Redis and checks ContentService keeps answering, uncached.

Kept in its own module; Redis is restarted in `finally` whatever happens.
"""

from __future__ import annotations

from google.protobuf import field_mask_pb2

from teaching.content.v1 import content_service_pb2 as pb


def test_service_answers_while_redis_is_down(stack, content_stub, teacher, textbook):
    outline_request = pb.GetBookOutlineRequest(book_id=str(textbook.book_id))
    before = content_stub.GetBookOutline(outline_request, metadata=teacher)  # cached while Redis is up
    created = content_stub.CreatePedagogyStrategy(
        pb.CreatePedagogyStrategyRequest(strategy=pb.PedagogyStrategy(name="Before the outage")), metadata=teacher
    ).strategy
    listed_before = content_stub.ListPedagogyStrategies(pb.ListPedagogyStrategiesRequest(), metadata=teacher)
    stack.stop_process("redis")
    try:
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
    # Back up: the change made while Redis was down is what the (possibly cached) list shows.
    names = {s.name for s in content_stub.ListPedagogyStrategies(
        pb.ListPedagogyStrategiesRequest(scope=pb.PEDAGOGY_SCOPE_PRIVATE), metadata=teacher).strategies}
    assert names == {"During the outage"}
    assert content_stub.GetBookOutline(outline_request, metadata=teacher) == before
