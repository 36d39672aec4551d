"""Disruptive: with every ContentService server stopped, UserService refuses writes whose references it
cannot check (UNAVAILABLE, fast, nothing written) and keeps serving everything else; once ContentService
is back, writes succeed again without restarting anything."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2

from devstack import Stack
from teaching.user.v1 import user_service_pb2 as pb
from tests.content.support import Textbook
from tests.ingest.helpers import wait_for
from tests.reliability.rpcs import error_info
from tests.user.support import GLOBAL_STRATEGY_ID, quiz, worksheet

# Generous: failing fast means no wait for a deadline or a reconnect, not a timing target.
FAIL_FAST_SECONDS = 10


@contextlib.contextmanager
def content_down(stack: Stack) -> Iterator[None]:
    """Every ContentService server stopped while the block runs."""
    servers = stack.replicas_of("content")
    for name in servers:
        stack.stop_process(name)
    try:
        yield
    finally:
        for name in servers:
            stack.start_process(name)


def cited_quiz(textbook: Textbook) -> pb.ClassArtifact:
    artifact = quiz("Cited", books=(str(textbook.book_id),))
    artifact.atom_references[0].atom_id = textbook.atom_id(0)
    artifact.pedagogy_strategy_id = GLOBAL_STRATEGY_ID
    return artifact


def _unavailable(call: Callable[..., Any], request: Any, metadata: list[tuple[str, str]]) -> None:
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as error:
        call(request, metadata=metadata, timeout=30)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE, error.value.details()
    assert time.monotonic() - started < FAIL_FAST_SECONDS
    info = error_info(error.value)
    assert info is not None and info.reason == "CONTENT_SERVICE_UNAVAILABLE"


def test_writes_citing_the_library_fail_fast_while_content_is_down_and_recover(
    stack: Stack, user_stub: Any, auth: Callable[..., list[tuple[str, str]]], textbook: Textbook
) -> None:
    teacher = auth(f"teacher-{uuid.uuid4().hex[:8]}", "teacher")
    existing = user_stub.CreateArtifact(pb.CreateArtifactRequest(artifact=cited_quiz(textbook)),
                                        metadata=teacher).artifact
    with content_down(stack):
        _unavailable(user_stub.CreateArtifact, pb.CreateArtifactRequest(artifact=cited_quiz(textbook)), teacher)
        rewrite = pb.UpdateArtifactRequest(
            artifact=pb.ClassArtifact(artifact_id=existing.artifact_id, etag=existing.etag,
                                      book_ids=[str(textbook.book_id)]),
            update_mask=field_mask_pb2.FieldMask(paths=["book_ids"]))
        _unavailable(user_stub.UpdateArtifact, rewrite, teacher)
        listed = user_stub.ListArtifacts(pb.ListArtifactsRequest(), metadata=teacher).artifacts
        assert [a.artifact_id for a in listed] == [existing.artifact_id] and listed[0].revision == 1

        # Everything that needs no check still works, and what was written stays readable: resolved
        # while its references' confirmation is recent (REFERENCE_CACHE_SECONDS), then unchecked.
        def read_existing() -> pb.ClassArtifact:
            found: pb.ClassArtifact = user_stub.GetArtifact(pb.GetArtifactRequest(artifact_id=existing.artifact_id),
                                                            metadata=teacher).artifact
            assert found.title == existing.title
            assert found.reference_check in (pb.REFERENCE_CHECK_RESOLVED, pb.REFERENCE_CHECK_UNAVAILABLE)
            return found

        wait_for(lambda: read_existing().reference_check == pb.REFERENCE_CHECK_UNAVAILABLE,
                 "reads flag the references unchecked once their confirmation is old", timeout=60)
        plain = user_stub.CreateArtifact(pb.CreateArtifactRequest(artifact=worksheet("No citations")),
                                         metadata=teacher).artifact
        assert plain.reference_check == pb.REFERENCE_CHECK_RESOLVED
        retitled = user_stub.UpdateArtifact(pb.UpdateArtifactRequest(
            artifact=pb.ClassArtifact(artifact_id=existing.artifact_id, etag=existing.etag, title="Renamed"),
            update_mask=field_mask_pb2.FieldMask(paths=["title"])), metadata=teacher).artifact
        assert retitled.title == "Renamed" and retitled.reference_check == pb.REFERENCE_CHECK_UNAVAILABLE

    def cited_write_succeeds() -> bool:
        try:
            user_stub.CreateArtifact(pb.CreateArtifactRequest(artifact=cited_quiz(textbook)), metadata=teacher)
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.UNAVAILABLE, error.details()
            return False
        return True

    # Back by itself: no UserService restart.
    wait_for(cited_write_succeeds, "a write citing the library after ContentService came back", timeout=60)
    read = user_stub.GetArtifact(pb.GetArtifactRequest(artifact_id=existing.artifact_id), metadata=teacher).artifact
    assert read.reference_check == pb.REFERENCE_CHECK_RESOLVED
