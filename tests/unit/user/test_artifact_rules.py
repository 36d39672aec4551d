"""UserService's artifact rules without a stack: new content, update masks and patches, etags.

Requests are written as the messages a client sends and handed to the rules through the api's
translation (user_svc.api.artifact_draft), as a call would be."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable

import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from common.errors import Aborted, InvalidArgument, NotFound
from teaching.user.v1 import user_service_pb2 as pb
from user_svc import api
from user_svc.rules import artifacts, limits
from user_svc.rules.types import Artifact, ArtifactContent, ArtifactKind, ArtifactPatch, AtomReference

BOOK = "0b7c5f9e-9a41-4c44-8f0e-5a3b2d1c0e9f"


def quiz(**fields: object) -> pb.ClassArtifact:
    message = pb.ClassArtifact(
        kind=pb.ARTIFACT_KIND_QUIZ,
        title="Fractions",
        quiz=pb.Quiz(questions=[pb.QuizQuestion(prompt="1/2 + 1/2?", choices=["1", "2"], correct_choice_index=0)]),
    )
    for name, value in fields.items():
        if isinstance(value, list):
            getattr(message, name).extend(value)
        else:
            setattr(message, name, value)
    return message


def violations(call: Callable[[], object]) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as error:
        call()
    return error.value.violations


def test_new_content_takes_what_the_teacher_wrote_with_canonical_ids() -> None:
    strategy = uuid.uuid4()
    content = artifacts.new_content(api.artifact_draft(quiz(
        book_ids=[BOOK.upper()],
        atom_references=[pb.AtomReference(book_id=BOOK, atom_id=BOOK.upper())],
        pedagogy_strategy_id=str(strategy).upper(),
        artifact_id="ignored", owner_id="ignored", revision=7,
    )))
    assert content.kind is ArtifactKind.QUIZ and content.title == "Fractions"
    assert content.body == {"questions": [{"prompt": "1/2 + 1/2?", "choices": ["1", "2"]}]}
    assert content.book_ids == (uuid.UUID(BOOK),)
    assert content.atom_references == (AtomReference(uuid.UUID(BOOK), BOOK),)
    assert content.pedagogy_strategy_id == str(strategy)


def _kind_only(kind: int) -> pb.ClassArtifact:
    message = quiz()
    message.kind = kind  # type: ignore[assignment]
    return message


def _oversized() -> pb.ClassArtifact:
    message = quiz()
    message.quiz.questions[0].explanation = "x" * limits.BODY_MAX_BYTES
    return message


@pytest.mark.parametrize(
    ("artifact", "field"),
    [
        (_kind_only(pb.ARTIFACT_KIND_UNSPECIFIED), "artifact.kind"),
        (_kind_only(99), "artifact.kind"),
        (_kind_only(pb.ARTIFACT_KIND_WORKSHEET), "artifact.kind"),
        (pb.ClassArtifact(kind=pb.ARTIFACT_KIND_LESSON_PLAN, title="t"), "artifact.lesson_plan"),
        (quiz(title=" "), "artifact.title"),
        (quiz(title="t" * (limits.TITLE_MAX_CHARS + 1)), "artifact.title"),
        (quiz(title="a\x00b"), "artifact.title"),
        (_oversized(), "artifact.quiz"),
        (quiz(book_ids=[BOOK, BOOK.upper()]), "artifact.book_ids[1]"),
        (quiz(book_ids=[str(uuid.uuid4()) for _ in range(limits.LIST_MAX_ITEMS + 1)]), "artifact.book_ids"),
        (quiz(atom_references=[pb.AtomReference(book_id=BOOK, atom_id="a b")]), "artifact.atom_references[0].atom_id"),
        (quiz(pedagogy_strategy_id="socratic"), "artifact.pedagogy_strategy_id"),
    ],
    ids=["no kind", "unknown kind", "kind and body disagree", "no body", "blank title", "long title", "NUL",
         "oversized body", "duplicate book", "too many books", "bad atom id", "bad strategy id"],
)
def test_new_content_refuses_bad_input_naming_the_field(artifact: pb.ClassArtifact, field: str) -> None:
    assert field in violations(lambda: artifacts.new_content(api.artifact_draft(artifact)))


def test_every_violation_of_a_request_is_reported_at_once() -> None:
    draft = api.artifact_draft(quiz(title="", pedagogy_strategy_id="x", book_ids=["y"]))
    found = violations(lambda: artifacts.new_content(draft))
    assert set(found) == {"artifact.title", "artifact.pedagogy_strategy_id", "artifact.book_ids[0]"}


@pytest.mark.parametrize(
    ("mask", "artifact", "field"),
    [
        ([], quiz(etag="e"), "update_mask"),
        (["colour"], quiz(etag="e"), "update_mask"),
        (["kind"], quiz(etag="e"), "update_mask"),
        (["quiz.questions"], quiz(etag="e"), "update_mask"),
        (["quiz", "worksheet"], quiz(etag="e"), "update_mask"),
        (["worksheet"], quiz(etag="e"), "artifact.quiz"),
        (["title"], quiz(), "artifact.etag"),
        (["title"], quiz(title="", etag="e"), "artifact.title"),
        (["book_ids"], quiz(book_ids=["nope"], etag="e"), "artifact.book_ids[0]"),
    ],
    ids=["empty mask", "unknown path", "output-only path", "nested path", "two bodies", "mask and body disagree",
         "no etag", "cleared title", "bad book id"],
)
def test_update_masks_and_fields_are_checked(mask: list[str], artifact: pb.ClassArtifact, field: str) -> None:
    assert field in violations(lambda: artifacts.artifact_patch(api.artifact_draft(artifact), mask))


def test_a_patch_holds_the_masked_fields_only_and_clears_empty_ones() -> None:
    draft = api.artifact_draft(quiz(title="New", book_ids=[BOOK], etag="e"))
    patch = artifacts.artifact_patch(draft, ["title", "atom_references"])
    assert patch == ArtifactPatch(title="New", atom_references=())


def _content(kind: ArtifactKind = ArtifactKind.QUIZ) -> ArtifactContent:
    return ArtifactContent(kind=kind, title="Old", body={"questions": []}, book_ids=(uuid.UUID(BOOK),),
                           pedagogy_strategy_id=BOOK)


def test_apply_patch_changes_only_what_the_patch_names() -> None:
    updated = artifacts.apply_patch(_content(), ArtifactPatch(title="New", book_ids=()))
    assert updated == ArtifactContent(kind=ArtifactKind.QUIZ, title="New", body={"questions": []}, book_ids=(),
                                      pedagogy_strategy_id=BOOK)


def test_a_body_of_another_kind_does_not_fit() -> None:
    patch = ArtifactPatch(body=(ArtifactKind.WORKSHEET, {"items": []}))
    assert "update_mask" in violations(lambda: artifacts.apply_patch(_content(ArtifactKind.QUIZ), patch))


def _artifact(revision: int) -> Artifact:
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    return Artifact("t1", uuid.UUID(BOOK), _content(), revision, now, now)


def test_etags_are_stable_per_revision_and_change_with_it() -> None:
    assert artifacts.etag_of(_artifact(1)) == artifacts.etag_of(_artifact(1))
    assert artifacts.etag_of(_artifact(1)) != artifacts.etag_of(_artifact(2))
    artifacts.check_etag(_artifact(2), artifacts.etag_of(_artifact(2)))
    with pytest.raises(Aborted, match="changed since it was read"):
        artifacts.check_etag(_artifact(2), artifacts.etag_of(_artifact(1)))


@pytest.mark.parametrize("revision", [0, -1])
def test_revision_numbers_start_at_one(revision: int) -> None:
    assert "revision" in violations(lambda: artifacts.require_revision(revision))


def test_someone_elses_artifact_is_indistinguishable_from_a_missing_one() -> None:
    error = artifacts.artifact_not_found(uuid.UUID(BOOK))
    assert isinstance(error, NotFound)
    assert error.message == f"artifact {BOOK!r} not found"


# Field kinds whose proto JSON is their plain Python value, so the message constructor reads it exactly.
PLAIN_JSON_TYPES = {FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32,
                    FieldDescriptor.TYPE_SFIXED32, FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32,
                    FieldDescriptor.TYPE_BOOL, FieldDescriptor.TYPE_MESSAGE}


def _fields_of(descriptor: Descriptor) -> list[FieldDescriptor]:
    found = list(descriptor.fields)
    for field in descriptor.fields:
        if field.message_type is not None:
            found += _fields_of(field.message_type)
    return found


@pytest.mark.parametrize("kind", list(ArtifactKind))
def test_body_messages_hold_only_fields_whose_json_the_constructor_reads(kind: ArtifactKind) -> None:
    # body_message builds messages from stored proto JSON with the constructor: a field kind whose
    # JSON differs from its value (int64 as a string, bytes as base64, enums, well-known types) would
    # break that. Adding one means going back to json_format.ParseDict there.
    descriptor = api.BODY_TYPES[kind].DESCRIPTOR
    odd = [f"{field.full_name} ({field.type})" for field in _fields_of(descriptor)
           if field.type not in PLAIN_JSON_TYPES
           or (field.message_type is not None and field.message_type.file.package.startswith("google.protobuf"))]
    assert odd == []


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        (ArtifactKind.QUIZ, quiz().quiz),
        (ArtifactKind.QUIZ, pb.Quiz()),
        (ArtifactKind.LESSON_PLAN, pb.LessonPlan(objectives=["a"], activities=[pb.LessonActivity(title="t",
                                                                                                  duration_minutes=5)])),
        (ArtifactKind.WORKSHEET, pb.Worksheet(instructions="i", items=[pb.WorksheetItem(prompt="p", answer="")])),
    ],
    ids=["quiz", "empty quiz", "lesson plan", "worksheet"],
)
def test_stored_bodies_come_back_as_written(kind: ArtifactKind, message: Message) -> None:
    stored = api.body_json(message)
    assert api.body_message(kind, stored) == message == json_format.ParseDict(stored, type(message)())
