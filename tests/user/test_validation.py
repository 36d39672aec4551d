"""Bad input gets INVALID_ARGUMENT with field violations, and a rejected call writes nothing."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest
from google.protobuf import field_mask_pb2

from teaching.user.v1 import user_service_pb2 as pb
from tests.status import field_violations
from tests.user.support import Library, Teacher, book, lesson_plan, quiz, worksheet
from user_svc.rules import limits

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NewTeacher = Callable[[], Teacher]


def _bad_artifacts() -> list[tuple[str, pb.ClassArtifact, str]]:
    no_kind = quiz()
    no_kind.kind = pb.ARTIFACT_KIND_UNSPECIFIED
    unknown_kind = quiz()
    unknown_kind.kind = 99  # type: ignore[assignment]
    mismatch = quiz()
    mismatch.kind = pb.ARTIFACT_KIND_WORKSHEET
    no_body = pb.ClassArtifact(kind=pb.ARTIFACT_KIND_LESSON_PLAN, title="t")
    huge = quiz(questions=1)
    huge.quiz.questions[0].explanation = "x" * (limits.BODY_MAX_BYTES + 1)
    many_questions = quiz(questions=limits.BODY_ENTRIES_MAX + 1)
    bad_choice = quiz(questions=1)
    bad_choice.quiz.questions[0].correct_choice_index = 3
    one_choice = quiz(questions=1)
    del one_choice.quiz.questions[0].choices[1:]
    empty_prompt = worksheet()
    empty_prompt.worksheet.items[0].prompt = " "
    long_activity = lesson_plan()
    long_activity.lesson_plan.activities[1].duration_minutes = -5
    too_many_books = quiz(books=tuple(book() for _ in range(limits.LIST_MAX_ITEMS + 1)))
    duplicate_books = quiz()
    duplicate_books.book_ids.extend([book()] * 2)
    bad_atom = quiz()
    bad_atom.atom_references.add(book_id=book(), atom_id="has spaces")
    nul_title = quiz("bad\x00title")
    return [
        ("no kind", no_kind, "artifact.kind"),
        ("unknown kind", unknown_kind, "artifact.kind"),
        ("kind/body mismatch", mismatch, "artifact.kind"),
        ("no body", no_body, "artifact.lesson_plan"),
        ("empty title", quiz(" "), "artifact.title"),
        ("long title", quiz("t" * (limits.TITLE_MAX_CHARS + 1)), "artifact.title"),
        ("oversized body", huge, "artifact.quiz"),
        ("too many questions", many_questions, "artifact.quiz.questions"),
        ("answer out of range", bad_choice, "artifact.quiz.questions[0].correct_choice_index"),
        ("one choice", one_choice, "artifact.quiz.questions[0].choices"),
        ("blank item", empty_prompt, "artifact.worksheet.items[0].prompt"),
        ("negative duration", long_activity, "artifact.lesson_plan.activities[1].duration_minutes"),
        ("too many books", too_many_books, "artifact.book_ids"),
        ("duplicate book", duplicate_books, "artifact.book_ids[1]"),
        ("malformed book id", quiz(books=("not-a-uuid",)), "artifact.book_ids[0]"),
        ("malformed atom id", bad_atom, "artifact.atom_references[0].atom_id"),
        ("NUL in title", nul_title, "artifact.title"),
    ]


BAD_ARTIFACTS = _bad_artifacts()


@pytest.mark.parametrize(("artifact", "field"), [case[1:] for case in BAD_ARTIFACTS],
                         ids=[case[0] for case in BAD_ARTIFACTS])
def test_invalid_creates_are_refused_and_write_nothing(
    new_teacher: NewTeacher, artifact: pb.ClassArtifact, field: str
) -> None:
    teacher = new_teacher()
    error = teacher.fails("CreateArtifact", pb.CreateArtifactRequest(artifact=artifact), INVALID)
    assert field in field_violations(error)
    assert teacher.list_all() == []


def _oversized_quiz() -> pb.ClassArtifact:
    oversized = quiz(questions=1)
    oversized.quiz.questions[0].prompt = "x" * (limits.BODY_MAX_BYTES + 1)
    return oversized


@pytest.mark.parametrize(
    ("change", "paths", "field"),
    [
        (pb.ClassArtifact(title="New"), (), "update_mask"),
        (pb.ClassArtifact(title="New"), ("title", "colour"), "update_mask"),
        (pb.ClassArtifact(title="New"), ("title", "quiz.questions"), "update_mask"),
        (pb.ClassArtifact(kind=pb.ARTIFACT_KIND_WORKSHEET), ("kind",), "update_mask"),
        (pb.ClassArtifact(title="New"), ("title", "revision"), "update_mask"),
        (pb.ClassArtifact(title="t" * (limits.TITLE_MAX_CHARS + 1)), ("title",), "artifact.title"),
        (pb.ClassArtifact(title=""), ("title",), "artifact.title"),
        (_oversized_quiz(), ("quiz",), "artifact.quiz"),
        (worksheet(), ("worksheet",), "update_mask"),  # a quiz cannot take a worksheet body
        (worksheet(), ("quiz",), "artifact.worksheet"),  # the mask and the body set disagree
        (pb.ClassArtifact(book_ids=["nope"]), ("book_ids",), "artifact.book_ids[0]"),
        (pb.ClassArtifact(pedagogy_strategy_id="a b"), ("pedagogy_strategy_id",), "artifact.pedagogy_strategy_id"),
        # Valid fields next to an invalid one are not written either.
        (pb.ClassArtifact(title="Fine", book_ids=["bad"]), ("title", "book_ids"), "artifact.book_ids[0]"),
    ],
    ids=["empty mask", "unknown path", "nested path", "kind", "output-only path", "long title", "empty title",
         "oversized body", "body of another kind", "mask and body disagree", "bad book id", "bad strategy id",
         "half valid"],
)
def test_invalid_updates_leave_content_and_revision_unchanged(
    new_teacher: NewTeacher, library: Library, change: pb.ClassArtifact, paths: tuple[str, ...], field: str
) -> None:
    teacher = new_teacher()
    original = teacher.create(quiz("Original", books=(library.book(),)))
    artifact = pb.ClassArtifact()
    artifact.CopyFrom(change)
    artifact.artifact_id, artifact.etag = original.artifact_id, original.etag
    request = pb.UpdateArtifactRequest(artifact=artifact, update_mask=field_mask_pb2.FieldMask(paths=list(paths)))
    error = teacher.fails("UpdateArtifact", request, INVALID)
    assert set(field_violations(error)) == {field}
    assert teacher.get(original.artifact_id) == original
    assert teacher.revisions(original.artifact_id) == []


@pytest.mark.parametrize(
    ("method", "request_message", "field"),
    [
        ("GetArtifact", pb.GetArtifactRequest(artifact_id="42"), "artifact_id"),
        ("GetArtifact", pb.GetArtifactRequest(), "artifact_id"),
        ("DeleteArtifact", pb.DeleteArtifactRequest(artifact_id="../etc"), "artifact_id"),
        ("ListArtifactRevisions", pb.ListArtifactRevisionsRequest(artifact_id="x"), "artifact_id"),
        ("GetArtifactRevision", pb.GetArtifactRevisionRequest(artifact_id="x", revision=1), "artifact_id"),
        ("RollbackArtifact", pb.RollbackArtifactRequest(artifact_id="x", revision=1, etag="e"), "artifact_id"),
        (
            "UpdateArtifact",
            pb.UpdateArtifactRequest(artifact=pb.ClassArtifact(artifact_id="x", etag="e", title="t"),
                                     update_mask=field_mask_pb2.FieldMask(paths=["title"])),
            "artifact.artifact_id",
        ),
        ("ListArtifacts", pb.ListArtifactsRequest(book_id="not-a-uuid"), "book_id"),
        ("ListArtifacts", pb.ListArtifactsRequest(kind=7), "kind"),  # type: ignore[arg-type]
        ("ListArtifacts", pb.ListArtifactsRequest(page_size=-1), "page_size"),
    ],
)
def test_malformed_ids_and_filters_are_invalid_arguments(
    new_teacher: NewTeacher, method: str, request_message: object, field: str
) -> None:
    error = new_teacher().fails(method, request_message, INVALID)
    assert field in field_violations(error)


@pytest.mark.parametrize(
    ("method", "make_request"),
    [
        ("GetArtifactRevision",
         lambda created: pb.GetArtifactRevisionRequest(artifact_id=created.artifact_id, revision=0)),
        ("RollbackArtifact",
         lambda created: pb.RollbackArtifactRequest(artifact_id=created.artifact_id, revision=-1, etag=created.etag)),
    ],
    ids=["get revision 0", "rollback to -1"],
)
def test_revision_numbers_must_be_positive(
    new_teacher: NewTeacher, method: str, make_request: Callable[[pb.ClassArtifact], object]
) -> None:
    teacher = new_teacher()
    created = teacher.create(quiz())
    error = teacher.fails(method, make_request(created), INVALID)
    assert "revision" in field_violations(error)
    assert teacher.get(created.artifact_id) == created


def test_largest_allowed_artifact_is_accepted(new_teacher: NewTeacher, library: Library) -> None:
    teacher = new_teacher()
    big = quiz("t" * limits.TITLE_MAX_CHARS, questions=limits.BODY_ENTRIES_MAX,
               books=tuple(library.book() for _ in range(limits.LIST_MAX_ITEMS)))
    created = teacher.create(big)
    assert len(created.quiz.questions) == limits.BODY_ENTRIES_MAX
    assert len(created.book_ids) == limits.LIST_MAX_ITEMS
