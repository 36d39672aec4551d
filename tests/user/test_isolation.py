"""Two teachers: no read, list, update, delete or revision call crosses over (always NOT_FOUND)."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from google.protobuf import field_mask_pb2

from teaching.user.v1 import user_service_pb2 as pb
from tests.user.support import Library, Teacher, quiz

NOT_FOUND = grpc.StatusCode.NOT_FOUND


def test_teachers_never_see_or_touch_each_others_data(new_teacher: Callable[[], Teacher], library: Library) -> None:
    alice, bob = new_teacher(), new_teacher()
    shared_book = library.book()
    alice.call("UpdateProfile", pb.UpdateProfileRequest(
        profile=pb.TeacherProfile(display_name="Alice"), update_mask=field_mask_pb2.FieldMask(paths=["display_name"])
    ))
    mine = alice.create(quiz("Alice's quiz", books=(shared_book,)))
    mine = alice.call("UpdateArtifact", pb.UpdateArtifactRequest(
        artifact=pb.ClassArtifact(artifact_id=mine.artifact_id, etag=mine.etag, title="Alice's quiz v2"),
        update_mask=field_mask_pb2.FieldMask(paths=["title"]),
    )).artifact
    bobs = bob.create(quiz("Bob's quiz", books=(shared_book,)))
    artifact_id = mine.artifact_id

    # Bob, even holding Alice's id and current etag, gets NOT_FOUND everywhere.
    bob.fails("GetArtifact", pb.GetArtifactRequest(artifact_id=artifact_id), NOT_FOUND)
    bob.fails("UpdateArtifact", pb.UpdateArtifactRequest(
        artifact=pb.ClassArtifact(artifact_id=artifact_id, etag=mine.etag, title="pwned"),
        update_mask=field_mask_pb2.FieldMask(paths=["title"]),
    ), NOT_FOUND)
    bob.fails("DeleteArtifact", pb.DeleteArtifactRequest(artifact_id=artifact_id), NOT_FOUND)
    bob.fails("DeleteArtifact", pb.DeleteArtifactRequest(artifact_id=artifact_id, etag=mine.etag), NOT_FOUND)
    bob.fails("ListArtifactRevisions", pb.ListArtifactRevisionsRequest(artifact_id=artifact_id), NOT_FOUND)
    bob.fails("GetArtifactRevision", pb.GetArtifactRevisionRequest(artifact_id=artifact_id, revision=1), NOT_FOUND)
    bob.fails("RollbackArtifact",
              pb.RollbackArtifactRequest(artifact_id=artifact_id, revision=1, etag=mine.etag), NOT_FOUND)
    # The same status and message as an id that exists nowhere, so existence does not leak.
    error = bob.fails("GetArtifact", pb.GetArtifactRequest(artifact_id=artifact_id), NOT_FOUND)
    assert error.details() == f"artifact {artifact_id!r} not found"

    # Lists show only one's own, with or without filters.
    assert [a.artifact_id for a in bob.list_all()] == [bobs.artifact_id]
    assert [a.artifact_id for a in bob.list_all(book_id=shared_book)] == [bobs.artifact_id]
    assert [a.artifact_id for a in bob.list_all(kind=pb.ARTIFACT_KIND_QUIZ)] == [bobs.artifact_id]
    assert [a.artifact_id for a in alice.list_all(book_id=shared_book)] == [artifact_id]

    # Profiles are per caller.
    assert bob.call("GetProfile", pb.GetProfileRequest()).profile.display_name == ""
    assert alice.call("GetProfile", pb.GetProfileRequest()).profile.display_name == "Alice"

    # Alice's artifact and history are untouched.
    assert alice.get(artifact_id) == mine
    assert [r.revision for r in alice.revisions(artifact_id)] == [1]
