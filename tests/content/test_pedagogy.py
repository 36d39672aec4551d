"""Pedagogy strategies: seeds, visibility for two teachers and an admin, writes, pagination."""

from __future__ import annotations

import uuid
from typing import Any, cast

import grpc
import pytest
from google.protobuf import field_mask_pb2

from teaching.content.v1 import content_service_pb2 as pb
from tests.status import expect_error, field_violations

SEED_NAMES = {
    "ESL Standard", "Direct Instruction", "Inquiry-Based Learning", "Socratic Questioning",
    "Spaced Retrieval Practice", "Differentiated Instruction", "Scaffolded Reading", "Project-Based Learning",
    "Worked Examples",
}


def _list_all(stub, metadata, scope=pb.PEDAGOGY_SCOPE_UNSPECIFIED, page_size=200) -> list[pb.PedagogyStrategy]:
    items: list[pb.PedagogyStrategy] = []
    token = ""
    while True:
        page = stub.ListPedagogyStrategies(
            pb.ListPedagogyStrategiesRequest(page_size=page_size, page_token=token, scope=scope), metadata=metadata
        )
        items += page.strategies
        token = page.next_page_token
        if not token:
            return items


def _create(stub, metadata, name: str, scope=pb.PEDAGOGY_SCOPE_UNSPECIFIED, **fields) -> pb.PedagogyStrategy:
    response: pb.CreatePedagogyStrategyResponse = stub.CreatePedagogyStrategy(
        pb.CreatePedagogyStrategyRequest(strategy=pb.PedagogyStrategy(name=name, scope=scope, **fields)),
        metadata=metadata,
    )
    return response.strategy


def test_global_seed_strategies_are_there_for_everyone(content_stub, teacher):
    strategies = _list_all(content_stub, teacher, pb.PEDAGOGY_SCOPE_GLOBAL)
    names = {s.name for s in strategies}
    assert names >= SEED_NAMES
    esl = next(s for s in strategies if s.name == "ESL Standard")
    assert esl.owner_id == "" and esl.scope == pb.PEDAGOGY_SCOPE_GLOBAL and esl.instructions


def test_two_teachers_and_an_admin_see_exactly_what_they_may(content_stub, auth):
    suffix = uuid.uuid4().hex[:8]
    alice, bob = auth(f"alice-{suffix}", "teacher"), auth(f"bob-{suffix}", "teacher")
    admin = auth(f"admin-{suffix}", "admin")
    mine = _create(content_stub, alice, f"Alice drills {suffix}", description="d", tags=["math", "drill"])
    assert mine.owner_id == f"alice-{suffix}" and mine.scope == pb.PEDAGOGY_SCOPE_PRIVATE
    assert list(mine.tags) == ["math", "drill"]
    global_one = _create(content_stub, admin, f"House style {suffix}", scope=pb.PEDAGOGY_SCOPE_GLOBAL)
    assert global_one.owner_id == "" and global_one.scope == pb.PEDAGOGY_SCOPE_GLOBAL

    def visible(metadata) -> set[str]:
        return {s.strategy_id for s in _list_all(content_stub, metadata)}

    assert mine.strategy_id in visible(alice)
    assert mine.strategy_id not in visible(bob)
    assert mine.strategy_id not in visible(admin)  # admins see global + their own, not teachers' private ones
    for who in (alice, bob, admin):
        assert global_one.strategy_id in visible(who)
    assert {s.strategy_id for s in _list_all(content_stub, alice, pb.PEDAGOGY_SCOPE_PRIVATE)} == {mine.strategy_id}
    assert mine.strategy_id not in {s.strategy_id for s in _list_all(content_stub, alice, pb.PEDAGOGY_SCOPE_GLOBAL)}

    # Get: own and global yes; someone else's private: NOT_FOUND, for teachers and admins alike.
    get = content_stub.GetPedagogyStrategy
    assert get(pb.GetPedagogyStrategyRequest(strategy_id=mine.strategy_id), metadata=alice).strategy == mine
    assert get(pb.GetPedagogyStrategyRequest(strategy_id=global_one.strategy_id), metadata=bob).strategy.name
    for other in (bob, admin):
        expect_error(grpc.StatusCode.NOT_FOUND, get, pb.GetPedagogyStrategyRequest(strategy_id=mine.strategy_id),
                     metadata=other)

    # Writes: teachers cannot create or change global ones; nobody but the owner touches a private one.
    expect_error(grpc.StatusCode.PERMISSION_DENIED, _create, content_stub, bob, "Nope", pb.PEDAGOGY_SCOPE_GLOBAL)
    rename = pb.UpdatePedagogyStrategyRequest(
        strategy=pb.PedagogyStrategy(strategy_id=global_one.strategy_id, name="Hijacked"),
        update_mask=field_mask_pb2.FieldMask(paths=["name"]),
    )
    expect_error(grpc.StatusCode.PERMISSION_DENIED, content_stub.UpdatePedagogyStrategy, rename, metadata=bob)
    expect_error(grpc.StatusCode.PERMISSION_DENIED, content_stub.DeletePedagogyStrategy,
                 pb.DeletePedagogyStrategyRequest(strategy_id=global_one.strategy_id), metadata=alice)
    rename_private = pb.UpdatePedagogyStrategyRequest(
        strategy=pb.PedagogyStrategy(strategy_id=mine.strategy_id, name="Hijacked"),
        update_mask=field_mask_pb2.FieldMask(paths=["name"]),
    )
    for other in (bob, admin):
        expect_error(grpc.StatusCode.NOT_FOUND, content_stub.UpdatePedagogyStrategy, rename_private, metadata=other)
        expect_error(grpc.StatusCode.NOT_FOUND, content_stub.DeletePedagogyStrategy,
                     pb.DeletePedagogyStrategyRequest(strategy_id=mine.strategy_id), metadata=other)
    assert get(pb.GetPedagogyStrategyRequest(strategy_id=mine.strategy_id), metadata=alice).strategy.name == mine.name

    # The admin may change and delete the global one; everyone sees the change at once (no stale cache).
    renamed = content_stub.UpdatePedagogyStrategy(
        pb.UpdatePedagogyStrategyRequest(
            strategy=pb.PedagogyStrategy(strategy_id=global_one.strategy_id, name=f"House style v2 {suffix}"),
            update_mask=field_mask_pb2.FieldMask(paths=["name"]),
        ),
        metadata=admin,
    ).strategy
    assert renamed.name == f"House style v2 {suffix}"
    names_for_bob = {s.name for s in _list_all(content_stub, bob)}
    assert renamed.name in names_for_bob and global_one.name not in names_for_bob
    content_stub.DeletePedagogyStrategy(
        pb.DeletePedagogyStrategyRequest(strategy_id=global_one.strategy_id), metadata=admin
    )
    assert global_one.strategy_id not in visible(bob)
    expect_error(grpc.StatusCode.NOT_FOUND, get, pb.GetPedagogyStrategyRequest(strategy_id=global_one.strategy_id),
                 metadata=admin)


def test_owner_updates_only_masked_fields_and_deletes(content_stub, teacher):
    created = _create(content_stub, teacher, "Exit tickets", description="old", instructions="keep", tags=["a"])
    listed_before = {s.strategy_id: s for s in _list_all(content_stub, teacher)}  # warms the list cache
    assert listed_before[created.strategy_id].description == "old"
    updated = content_stub.UpdatePedagogyStrategy(
        pb.UpdatePedagogyStrategyRequest(
            strategy=pb.PedagogyStrategy(strategy_id=created.strategy_id, name="ignored", description="new",
                                         tags=["b", "c"]),
            update_mask=field_mask_pb2.FieldMask(paths=["description", "tags"]),
        ),
        metadata=teacher,
    ).strategy
    assert (updated.name, updated.description, updated.instructions, list(updated.tags)) == (
        "Exit tickets", "new", "keep", ["b", "c"]
    )
    assert updated.update_time.ToDatetime() >= created.update_time.ToDatetime()
    assert updated.create_time == created.create_time
    listed = {s.strategy_id: s for s in _list_all(content_stub, teacher)}
    assert listed[created.strategy_id] == updated

    content_stub.DeletePedagogyStrategy(pb.DeletePedagogyStrategyRequest(strategy_id=created.strategy_id),
                                        metadata=teacher)
    assert created.strategy_id not in {s.strategy_id for s in _list_all(content_stub, teacher)}
    expect_error(grpc.StatusCode.NOT_FOUND, content_stub.DeletePedagogyStrategy,
                 pb.DeletePedagogyStrategyRequest(strategy_id=created.strategy_id), metadata=teacher)


def test_strategy_pagination_round_trip(content_stub, teacher):
    for i in range(7):
        _create(content_stub, teacher, f"Mine {i:02d}")
    everything = _list_all(content_stub, teacher, page_size=200)
    paged = _list_all(content_stub, teacher, page_size=3)
    assert [s.strategy_id for s in paged] == [s.strategy_id for s in everything]
    assert len({s.strategy_id for s in paged}) == len(paged)
    assert [s.name for s in paged] == sorted(s.name for s in paged)
    private = _list_all(content_stub, teacher, pb.PEDAGOGY_SCOPE_PRIVATE, page_size=2)
    assert [s.name for s in private] == [f"Mine {i:02d}" for i in range(7)]


@pytest.mark.parametrize(("request_", "field"), [
    pytest.param(pb.CreatePedagogyStrategyRequest(strategy=pb.PedagogyStrategy(name="  ")), "strategy.name",
                 id="blank-name"),
    pytest.param(pb.CreatePedagogyStrategyRequest(strategy=pb.PedagogyStrategy(name="x" * 201)), "strategy.name",
                 id="long-name"),
    pytest.param(pb.CreatePedagogyStrategyRequest(strategy=pb.PedagogyStrategy(name="ok", tags=[""])),
                 "strategy.tags", id="empty-tag"),
    pytest.param(pb.CreatePedagogyStrategyRequest(), "strategy", id="no-strategy"),
    pytest.param(pb.CreatePedagogyStrategyRequest(strategy=pb.PedagogyStrategy(name="ok", scope=cast(Any, 9))),
                 "strategy.scope", id="unknown-scope"),
])
def test_create_input_errors(content_stub, teacher, request_, field):
    error = expect_error(grpc.StatusCode.INVALID_ARGUMENT, content_stub.CreatePedagogyStrategy, request_,
                         metadata=teacher)
    assert field in field_violations(error)


@pytest.mark.parametrize("paths", [pytest.param([], id="empty-mask"), pytest.param(["owner_id"], id="owner-id"),
                                   pytest.param(["scope"], id="scope")])
def test_update_mask_errors(content_stub, teacher, paths):
    created = _create(content_stub, teacher, "Valid")
    error = expect_error(grpc.StatusCode.INVALID_ARGUMENT, content_stub.UpdatePedagogyStrategy,
                         pb.UpdatePedagogyStrategyRequest(
                             strategy=pb.PedagogyStrategy(strategy_id=created.strategy_id, name="n"),
                             update_mask=field_mask_pb2.FieldMask(paths=paths)),
                         metadata=teacher)
    assert "update_mask" in field_violations(error)
    unchanged = content_stub.GetPedagogyStrategy(pb.GetPedagogyStrategyRequest(strategy_id=created.strategy_id),
                                                 metadata=teacher).strategy
    assert unchanged == created


@pytest.mark.parametrize(("method", "request_", "field"), [
    pytest.param("GetPedagogyStrategy", pb.GetPedagogyStrategyRequest(strategy_id="abc"), "strategy_id",
                 id="get-bad-id"),
    pytest.param("DeletePedagogyStrategy", pb.DeletePedagogyStrategyRequest(), "strategy_id", id="delete-no-id"),
    pytest.param("ListPedagogyStrategies", pb.ListPedagogyStrategiesRequest(scope=cast(Any, 5)), "scope",
                 id="list-unknown-scope"),
])
def test_read_and_delete_input_errors(content_stub, teacher, method, request_, field):
    error = expect_error(grpc.StatusCode.INVALID_ARGUMENT, getattr(content_stub, method), request_, metadata=teacher)
    assert field in field_violations(error)


def test_unknown_strategy_is_not_found(content_stub, teacher):
    expect_error(grpc.StatusCode.NOT_FOUND, content_stub.GetPedagogyStrategy,
                 pb.GetPedagogyStrategyRequest(strategy_id=str(uuid.uuid4())), metadata=teacher)
