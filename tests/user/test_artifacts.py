"""Artifact lifecycle through gRPC: create, list (filters, pages), update with revisions,
stale updates refused, rollback, delete."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from google.protobuf import field_mask_pb2

from teaching.user.v1 import user_service_pb2 as pb
from tests.status import field_violations
from tests.user.support import Library, Teacher, book, lesson_plan, quiz, worksheet

NewTeacher = Callable[[], Teacher]


def _update(teacher: Teacher, artifact: pb.ClassArtifact, *paths: str) -> pb.ClassArtifact:
    request = pb.UpdateArtifactRequest(artifact=artifact, update_mask=field_mask_pb2.FieldMask(paths=list(paths)))
    updated: pb.ClassArtifact = teacher.call("UpdateArtifact", request).artifact
    return updated


def _without_output_only(artifact: pb.ClassArtifact) -> pb.ClassArtifact:
    copy = pb.ClassArtifact()
    copy.CopyFrom(artifact)
    for field in ("artifact_id", "owner_id", "revision", "etag", "create_time", "update_time", "reference_check",
                  "dangling_references"):
        copy.ClearField(field)  # type: ignore[arg-type]
    return copy


@pytest.mark.parametrize(
    "make_draft",
    [lambda books: quiz(books=(books.book(),)), lambda books: lesson_plan(books=(books.book(),)),
     lambda books: worksheet()],
    ids=["quiz", "lesson plan", "worksheet"],
)
def test_create_and_get_round_trip_every_kind(
    new_teacher: NewTeacher, library: Library, make_draft: Callable[[Library], pb.ClassArtifact]
) -> None:
    teacher = new_teacher()
    draft = make_draft(library)
    created = teacher.create(draft)
    assert created.owner_id == teacher.user_id
    assert created.revision == 1 and created.etag
    assert created.create_time.seconds > 0 and created.update_time == created.create_time
    # Everything the teacher wrote comes back as written.
    assert _without_output_only(created) == _without_output_only(draft)
    assert created.reference_check == pb.REFERENCE_CHECK_RESOLVED and not created.dangling_references
    assert teacher.get(created.artifact_id) == created


def test_output_only_fields_in_create_are_ignored(new_teacher: NewTeacher) -> None:
    teacher = new_teacher()
    draft = quiz()
    draft.artifact_id, draft.owner_id, draft.revision, draft.etag = "x", "someone-else", 42, "bogus"
    created = teacher.create(draft)
    assert created.owner_id == teacher.user_id and created.revision == 1 and created.artifact_id != "x"


def test_list_newest_first_with_kind_and_book_filters_and_pages(new_teacher: NewTeacher, library: Library) -> None:
    teacher = new_teacher()
    algebra, biology = library.book(), library.book()
    created = [
        teacher.create(quiz("q1", books=(algebra,))),
        teacher.create(lesson_plan("l1", books=(biology,))),
        teacher.create(quiz("q2", books=(algebra, biology))),
        teacher.create(worksheet("w1")),
        teacher.create(quiz("q3")),
    ]
    newest_first = [a.artifact_id for a in reversed(created)]

    assert [a.artifact_id for a in teacher.list_all()] == newest_first

    # Pages of 2: every artifact exactly once, in order, and the last page says there is no more.
    pages: list[list[str]] = []
    token = ""
    while True:
        response = teacher.call("ListArtifacts", pb.ListArtifactsRequest(page_size=2, page_token=token))
        pages.append([a.artifact_id for a in response.artifacts])
        token = response.next_page_token
        if not token:
            break
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [artifact_id for page in pages for artifact_id in page] == newest_first

    quizzes = teacher.list_all(kind=pb.ARTIFACT_KIND_QUIZ)
    assert [a.title for a in quizzes] == ["q3", "q2", "q1"]
    assert [a.title for a in teacher.list_all(book_id=algebra)] == ["q2", "q1"]
    assert [a.title for a in teacher.list_all(book_id=biology)] == ["q2", "l1"]
    assert [a.title for a in teacher.list_all(book_id=biology, kind=pb.ARTIFACT_KIND_QUIZ)] == ["q2"]
    assert teacher.list_all(book_id=book()) == []

    # A page token only continues the query it came from.
    first = teacher.call("ListArtifacts", pb.ListArtifactsRequest(page_size=1, kind=pb.ARTIFACT_KIND_QUIZ))
    error = teacher.fails(
        "ListArtifacts", pb.ListArtifactsRequest(page_size=1, page_token=first.next_page_token),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "page_token" in field_violations(error)
    error = teacher.fails(
        "ListArtifacts", pb.ListArtifactsRequest(page_token="not-a-token"), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert "page_token" in field_violations(error)


def test_update_keeps_revisions_and_refuses_stale_etags(new_teacher: NewTeacher) -> None:
    teacher = new_teacher()
    original = teacher.create(quiz("Draft", questions=1))
    first_etag = original.etag

    edit = pb.ClassArtifact(artifact_id=original.artifact_id, etag=first_etag, title="Final",
                            quiz=pb.Quiz(questions=[pb.QuizQuestion(prompt="Why?", answer="Because")]))
    updated = _update(teacher, edit, "title", "quiz")
    assert updated.revision == 2 and updated.etag != first_etag
    assert updated.title == "Final" and [q.prompt for q in updated.quiz.questions] == ["Why?"]
    # Fields outside the mask are untouched.
    assert updated.book_ids == original.book_ids
    assert updated.pedagogy_strategy_id == original.pedagogy_strategy_id
    assert updated.create_time == original.create_time
    assert teacher.get(original.artifact_id) == updated

    # The second tab still holds the first etag: its write is refused and changes nothing.
    stale = pb.ClassArtifact(artifact_id=original.artifact_id, etag=first_etag, title="Other tab")
    request = pb.UpdateArtifactRequest(artifact=stale, update_mask=field_mask_pb2.FieldMask(paths=["title"]))
    teacher.fails("UpdateArtifact", request, grpc.StatusCode.ABORTED)
    assert teacher.get(original.artifact_id) == updated

    # Missing etag: INVALID_ARGUMENT (the client forgot it; not a conflict).
    request.artifact.etag = ""
    error = teacher.fails("UpdateArtifact", request, grpc.StatusCode.INVALID_ARGUMENT)
    assert "artifact.etag" in field_violations(error)

    revisions = teacher.revisions(original.artifact_id)
    assert [r.revision for r in revisions] == [1]
    assert revisions[0].artifact.title == "Draft" and revisions[0].artifact.quiz == original.quiz
    assert revisions[0].archive_time.seconds > 0
    single = teacher.call(
        "GetArtifactRevision", pb.GetArtifactRevisionRequest(artifact_id=original.artifact_id, revision=1)
    ).revision
    assert single == revisions[0]
    # Only earlier versions are revisions; the current one is read with GetArtifact.
    teacher.fails(
        "GetArtifactRevision", pb.GetArtifactRevisionRequest(artifact_id=original.artifact_id, revision=2),
        grpc.StatusCode.NOT_FOUND,
    )


def test_concurrent_updates_with_one_etag_let_exactly_one_win(new_teacher: NewTeacher) -> None:
    teacher = new_teacher()
    original = teacher.create(worksheet("Start"))

    def attempt(n: int) -> grpc.StatusCode:
        edit = pb.ClassArtifact(artifact_id=original.artifact_id, etag=original.etag, title=f"Tab {n}")
        try:
            _update(teacher, edit, "title")
            return grpc.StatusCode.OK
        except grpc.RpcError as error:
            return error.code()  # type: ignore[no-any-return]

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(attempt, range(6)))
    assert outcomes.count(grpc.StatusCode.OK) == 1
    assert outcomes.count(grpc.StatusCode.ABORTED) == 5
    assert teacher.get(original.artifact_id).revision == 2
    assert [r.revision for r in teacher.revisions(original.artifact_id)] == [1]


def test_rollback_restores_an_old_revision_as_a_new_one(new_teacher: NewTeacher, library: Library) -> None:
    teacher = new_teacher()
    algebra = library.book()
    v1 = teacher.create(lesson_plan("v1", books=(algebra,)))
    v2 = _update(teacher, pb.ClassArtifact(artifact_id=v1.artifact_id, etag=v1.etag, title="v2"), "title")
    v3 = _update(teacher, pb.ClassArtifact(artifact_id=v1.artifact_id, etag=v2.etag, book_ids=[]), "book_ids")
    assert v3.revision == 3 and list(v3.book_ids) == []

    # Stale or missing etags are refused and change nothing.
    rollback = pb.RollbackArtifactRequest(artifact_id=v1.artifact_id, revision=1, etag=v2.etag)
    teacher.fails("RollbackArtifact", rollback, grpc.StatusCode.ABORTED)
    rollback.etag = ""
    teacher.fails("RollbackArtifact", rollback, grpc.StatusCode.INVALID_ARGUMENT)
    rollback.etag, rollback.revision = v3.etag, 99
    teacher.fails("RollbackArtifact", rollback, grpc.StatusCode.NOT_FOUND)
    assert teacher.get(v1.artifact_id) == v3

    rollback.revision = 1
    restored = teacher.call("RollbackArtifact", rollback).artifact
    assert restored.revision == 4
    assert restored.title == "v1" and list(restored.book_ids) == [algebra]
    assert restored.lesson_plan == v1.lesson_plan
    assert [r.revision for r in teacher.revisions(v1.artifact_id)] == [3, 2, 1]
    assert teacher.revisions(v1.artifact_id)[0].artifact.title == "v2"

    # Revision pages: newest first, one at a time.
    seen: list[int] = []
    token = ""
    while True:
        response = teacher.call(
            "ListArtifactRevisions",
            pb.ListArtifactRevisionsRequest(artifact_id=v1.artifact_id, page_size=1, page_token=token),
        )
        seen.extend(r.revision for r in response.revisions)
        token = response.next_page_token
        if not token:
            break
    assert seen == [3, 2, 1]


def test_delete_with_optional_etag(new_teacher: NewTeacher) -> None:
    teacher = new_teacher()
    first = teacher.create(quiz("keep"))
    doomed = teacher.create(quiz("doomed"))
    updated = _update(teacher, pb.ClassArtifact(artifact_id=doomed.artifact_id, etag=doomed.etag, title="x"),
                      "title")

    teacher.fails("DeleteArtifact", pb.DeleteArtifactRequest(artifact_id=doomed.artifact_id, etag=doomed.etag),
                  grpc.StatusCode.ABORTED)
    assert teacher.get(doomed.artifact_id) == updated
    teacher.call("DeleteArtifact", pb.DeleteArtifactRequest(artifact_id=doomed.artifact_id, etag=updated.etag))

    teacher.fails("GetArtifact", pb.GetArtifactRequest(artifact_id=doomed.artifact_id), grpc.StatusCode.NOT_FOUND)
    teacher.fails("ListArtifactRevisions", pb.ListArtifactRevisionsRequest(artifact_id=doomed.artifact_id),
                  grpc.StatusCode.NOT_FOUND)
    teacher.fails("DeleteArtifact", pb.DeleteArtifactRequest(artifact_id=doomed.artifact_id),
                  grpc.StatusCode.NOT_FOUND)
    assert [a.artifact_id for a in teacher.list_all()] == [first.artifact_id]

    # Without an etag the delete is unconditional.
    teacher.call("DeleteArtifact", pb.DeleteArtifactRequest(artifact_id=first.artifact_id))
    assert teacher.list_all() == []
