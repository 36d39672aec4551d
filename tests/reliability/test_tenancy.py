"""The tenancy matrix: Bob, a teacher holding Alice's ids (and her current etags and page tokens), tries
every RPC that reads or changes her artifacts, revisions, private strategies and profile, through gRPC
and through Envoy's JSON front. He gets NOT_FOUND exactly as for an id that exists nowhere (never
PERMISSION_DENIED, which would confirm it exists), her page tokens are refused, and nothing of hers
changes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from google.protobuf.message import Message

from teaching.content.v1 import content_service_pb2 as content_pb
from teaching.user.v1 import user_service_pb2 as user_pb
from tests.reliability.conftest import Book, Holdings, Teacher, holdings_of
from tests.reliability.rpcs import HTTP_STATUS, RPCS, assert_json_error, call_grpc, http_call

Code = grpc.StatusCode


@dataclass(frozen=True)
class Alice:
    holdings: Holdings
    artifact_page_token: str  # her ListArtifacts' second page
    strategy_page_token: str  # her ListPedagogyStrategies' second page

    @property
    def artifact_id(self) -> str:
        return self.holdings.artifact.artifact_id

    @property
    def strategy_id(self) -> str:
        return self.holdings.strategy.strategy_id

    def snapshot(self) -> tuple[Message, ...]:
        """Everything of hers that Bob must not change."""
        teacher = self.holdings.teacher
        metadata = teacher.metadata
        return (
            self.holdings.current_artifact(),
            teacher.user.ListArtifactRevisions(user_pb.ListArtifactRevisionsRequest(artifact_id=self.artifact_id),
                                               metadata=metadata, timeout=15),
            teacher.content.GetPedagogyStrategy(content_pb.GetPedagogyStrategyRequest(strategy_id=self.strategy_id),
                                                metadata=metadata, timeout=15).strategy,
            teacher.user.GetProfile(user_pb.GetProfileRequest(), metadata=metadata, timeout=15).profile,
        )


@pytest.fixture(scope="module")
def alice(new_teacher: Callable[..., Teacher], book: Book) -> Alice:
    holdings = holdings_of(new_teacher(prefix="alice"), book)
    teacher = holdings.teacher
    teacher.user.CreateArtifact(user_pb.CreateArtifactRequest(artifact=user_pb.ClassArtifact(
        kind=user_pb.ARTIFACT_KIND_WORKSHEET, title="Second", worksheet=user_pb.Worksheet(
            items=[user_pb.WorksheetItem(prompt="2+2?", answer="4")]),
    )), metadata=teacher.metadata, timeout=15)
    artifacts = teacher.user.ListArtifacts(user_pb.ListArtifactsRequest(page_size=1), metadata=teacher.metadata,
                                           timeout=15)
    strategies = teacher.content.ListPedagogyStrategies(content_pb.ListPedagogyStrategiesRequest(page_size=1),
                                                        metadata=teacher.metadata, timeout=15)
    assert artifacts.next_page_token and strategies.next_page_token
    return Alice(holdings, artifacts.next_page_token, strategies.next_page_token)


@pytest.fixture(scope="module")
def bob(new_teacher: Callable[..., Teacher]) -> Teacher:
    return new_teacher(prefix="bob")


def _mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


@dataclass(frozen=True)
class Attempt:
    rpc: str  # Service.Method
    request: Callable[[Alice, str], Message]  # Alice, and the id to put where hers would go
    expected: Code = Code.NOT_FOUND


ATTEMPTS: dict[str, Attempt] = {
    "read-artifact": Attempt("UserService.GetArtifact", lambda a, i: user_pb.GetArtifactRequest(artifact_id=i)),
    "update-artifact": Attempt("UserService.UpdateArtifact", lambda a, i: user_pb.UpdateArtifactRequest(
        artifact=user_pb.ClassArtifact(artifact_id=i, etag=a.holdings.current_artifact().etag, title="pwned"),
        update_mask=_mask("title"))),
    "delete-artifact": Attempt("UserService.DeleteArtifact", lambda a, i: user_pb.DeleteArtifactRequest(artifact_id=i)),
    "delete-artifact-with-etag": Attempt("UserService.DeleteArtifact", lambda a, i: user_pb.DeleteArtifactRequest(
        artifact_id=i, etag=a.holdings.current_artifact().etag)),
    "list-revisions": Attempt("UserService.ListArtifactRevisions",
                              lambda a, i: user_pb.ListArtifactRevisionsRequest(artifact_id=i)),
    "read-revision": Attempt("UserService.GetArtifactRevision",
                             lambda a, i: user_pb.GetArtifactRevisionRequest(artifact_id=i, revision=1)),
    "rollback": Attempt("UserService.RollbackArtifact", lambda a, i: user_pb.RollbackArtifactRequest(
        artifact_id=i, revision=1, etag=a.holdings.current_artifact().etag)),
    "read-strategy": Attempt("ContentService.GetPedagogyStrategy",
                             lambda a, i: content_pb.GetPedagogyStrategyRequest(strategy_id=i)),
    "update-strategy": Attempt("ContentService.UpdatePedagogyStrategy", lambda a, i: (
        content_pb.UpdatePedagogyStrategyRequest(
            strategy=content_pb.PedagogyStrategy(strategy_id=i, name="pwned"), update_mask=_mask("name")))),
    "delete-strategy": Attempt("ContentService.DeletePedagogyStrategy",
                               lambda a, i: content_pb.DeletePedagogyStrategyRequest(strategy_id=i)),
    # Her page tokens are bound to her query, which includes who asks.
    "artifacts-page-token": Attempt("UserService.ListArtifacts", lambda a, i: user_pb.ListArtifactsRequest(
        page_token=a.artifact_page_token), Code.INVALID_ARGUMENT),
    "strategies-page-token": Attempt("ContentService.ListPedagogyStrategies", lambda a, i: (
        content_pb.ListPedagogyStrategiesRequest(page_token=a.strategy_page_token)), Code.INVALID_ARGUMENT),
}


def _target_id(attempt: Attempt, alice: Alice) -> str:
    return alice.strategy_id if attempt.rpc.startswith("ContentService") else alice.artifact_id


def _rpc(label: str) -> Any:
    return next(rpc for rpc in RPCS if rpc.label == label)


def _grpc_error(bob: Teacher, channels: dict[str, grpc.Channel], label: str, request: Message) -> grpc.RpcError:
    rpc = _rpc(label)
    error = call_grpc(channels[rpc.target], rpc, request.SerializeToString(), bob.metadata)
    assert error is not None, f"{label} succeeded for another teacher's resource"
    return error


@pytest.mark.parametrize("name", list(ATTEMPTS))
def test_other_teachers_resources_over_grpc(name: str, alice: Alice, bob: Teacher,
                                            channels: dict[str, grpc.Channel]) -> None:
    attempt = ATTEMPTS[name]
    before = alice.snapshot()
    hers = _target_id(attempt, alice)
    error = _grpc_error(bob, channels, attempt.rpc, attempt.request(alice, hers))
    assert error.code() == attempt.expected, error.details()
    if attempt.expected == Code.NOT_FOUND:
        nowhere = str(uuid.uuid4())
        unknown = _grpc_error(bob, channels, attempt.rpc, attempt.request(alice, nowhere))
        assert (unknown.code(), (unknown.details() or "").replace(nowhere, "<id>")) == (
            error.code(), (error.details() or "").replace(hers, "<id>")), "the answer reveals that it exists"
    assert alice.snapshot() == before


@pytest.mark.parametrize("name", list(ATTEMPTS))
def test_other_teachers_resources_over_json(name: str, alice: Alice, bob: Teacher, front: str) -> None:
    attempt = ATTEMPTS[name]
    before = alice.snapshot()
    hers = _target_id(attempt, alice)
    reply = http_call(_rpc(attempt.rpc), attempt.request(alice, hers)).send(front, bob.token)
    assert reply.status == HTTP_STATUS[attempt.expected], reply.body[:300]
    body = assert_json_error(reply)
    if attempt.expected == Code.NOT_FOUND:
        nowhere = str(uuid.uuid4())
        unknown = http_call(_rpc(attempt.rpc), attempt.request(alice, nowhere)).send(front, bob.token)
        assert (unknown.status, assert_json_error(unknown)["message"].replace(nowhere, "<id>")) == (
            reply.status, body["message"].replace(hers, "<id>")), "the answer reveals that it exists"
    assert alice.snapshot() == before


def _all_artifacts(teacher: Teacher, **filters: Any) -> list[user_pb.ClassArtifact]:
    found: list[user_pb.ClassArtifact] = []
    token = ""
    while True:
        page = teacher.user.ListArtifacts(user_pb.ListArtifactsRequest(page_token=token, page_size=200, **filters),
                                          metadata=teacher.metadata, timeout=15)
        found.extend(page.artifacts)
        token = page.next_page_token
        if not token:
            return found


def _all_strategies(teacher: Teacher, scope: int) -> list[content_pb.PedagogyStrategy]:
    found: list[content_pb.PedagogyStrategy] = []
    token = ""
    while True:
        page = teacher.content.ListPedagogyStrategies(
            content_pb.ListPedagogyStrategiesRequest(page_token=token, page_size=200, scope=scope),  # type: ignore[arg-type]
            metadata=teacher.metadata, timeout=15)
        found.extend(page.strategies)
        token = page.next_page_token
        if not token:
            return found


@pytest.mark.parametrize("filters", [{}, {"kind": user_pb.ARTIFACT_KIND_WORKSHEET}, {"book_id": "shared"}],
                         ids=["all", "by-kind", "by-shared-book"])
def test_lists_show_only_the_callers_artifacts(filters: dict[str, Any], alice: Alice, bob: Teacher) -> None:
    if filters.get("book_id") == "shared":
        filters = {"book_id": alice.holdings.book.book_id}
    mine = bob.user.CreateArtifact(user_pb.CreateArtifactRequest(artifact=user_pb.ClassArtifact(
        kind=user_pb.ARTIFACT_KIND_WORKSHEET, title="Bob's", book_ids=[alice.holdings.book.book_id],
        worksheet=user_pb.Worksheet(items=[user_pb.WorksheetItem(prompt="3+3?", answer="6")]),
    )), metadata=bob.metadata, timeout=15).artifact
    listed = _all_artifacts(bob, **filters)
    assert mine.artifact_id in {a.artifact_id for a in listed}
    assert {a.owner_id for a in listed} == {bob.user_id}


@pytest.mark.parametrize("scope", [content_pb.PEDAGOGY_SCOPE_UNSPECIFIED, content_pb.PEDAGOGY_SCOPE_PRIVATE],
                         ids=["any-scope", "private-scope"])
def test_lists_never_show_another_teachers_private_strategies(scope: int, alice: Alice, bob: Teacher) -> None:
    listed = _all_strategies(bob, scope)
    assert alice.strategy_id not in {s.strategy_id for s in listed}
    assert {s.owner_id for s in listed} <= {"", bob.user_id}


def test_profiles_are_per_caller(alice: Alice, bob: Teacher) -> None:
    before = alice.snapshot()
    bob.user.UpdateProfile(user_pb.UpdateProfileRequest(
        profile=user_pb.TeacherProfile(user_id=alice.holdings.teacher.user_id, display_name="pwned"),
        update_mask=_mask("display_name"),
    ), metadata=bob.metadata, timeout=15)
    profile = bob.user.GetProfile(user_pb.GetProfileRequest(), metadata=bob.metadata, timeout=15).profile
    assert (profile.user_id, profile.display_name) == (bob.user_id, "pwned")
    assert alice.snapshot() == before
