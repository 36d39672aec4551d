"""UserService's domain types: profiles, artifacts, their revisions and the changes asked of them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID


class ArtifactKind(StrEnum):
    QUIZ = "QUIZ"
    LESSON_PLAN = "LESSON_PLAN"
    WORKSHEET = "WORKSHEET"


@dataclass(frozen=True)
class ActiveBook:
    book_id: UUID
    current_node_id: str = ""
    current_page: int = 0


@dataclass(frozen=True)
class Profile:
    user_id: str
    display_name: str
    grade_levels: tuple[str, ...]
    subjects: tuple[str, ...]
    language: str
    default_pedagogy_strategy_id: str
    active_books: tuple[ActiveBook, ...]
    create_time: datetime
    update_time: datetime


@dataclass(frozen=True)
class ProfilePatch:
    """The fields an UpdateProfile changes; None leaves a field as it is."""

    display_name: str | None = None
    grade_levels: tuple[str, ...] | None = None
    subjects: tuple[str, ...] | None = None
    language: str | None = None
    default_pedagogy_strategy_id: str | None = None
    active_books: tuple[ActiveBook, ...] | None = None


@dataclass(frozen=True)
class AtomReference:
    book_id: UUID
    atom_id: str


@dataclass(frozen=True)
class ArtifactContent:
    """What a revision captures: everything a teacher can edit, plus the kind."""

    kind: ArtifactKind
    title: str
    # The body message matching kind, in proto JSON (field names as in the .proto).
    body: dict[str, Any]
    book_ids: tuple[UUID, ...] = ()
    atom_references: tuple[AtomReference, ...] = ()
    pedagogy_strategy_id: str = ""


@dataclass(frozen=True)
class Artifact:
    owner_id: str
    artifact_id: UUID
    content: ArtifactContent
    revision: int
    create_time: datetime
    update_time: datetime


@dataclass(frozen=True)
class ArchivedRevision:
    """An earlier version: the artifact as it was at `artifact.revision`, replaced at archive_time."""

    artifact: Artifact
    archive_time: datetime


@dataclass(frozen=True)
class ArtifactPatch:
    """The fields an UpdateArtifact changes; None leaves a field as it is."""

    title: str | None = None
    # (kind the new body is for, body in proto JSON)
    body: tuple[ArtifactKind, dict[str, Any]] | None = None
    book_ids: tuple[UUID, ...] | None = None
    atom_references: tuple[AtomReference, ...] | None = None
    pedagogy_strategy_id: str | None = None


@dataclass(frozen=True)
class ArtifactFilter:
    kind: ArtifactKind | None = None
    book_id: UUID | None = None


@dataclass(frozen=True)
class ArtifactCursor:
    """Position after the last artifact of a page (newest-first order)."""

    create_time: datetime
    artifact_id: UUID


# Requests as the caller sent them, before any check (the api's translation of the messages).


@dataclass(frozen=True)
class AtomReferenceDraft:
    book_id: str
    atom_id: str


@dataclass(frozen=True)
class ArtifactDraft:
    """A ClassArtifact from CreateArtifact or UpdateArtifact; output-only fields are not carried."""

    kind: ArtifactKind | None  # None: unspecified or not a kind we know
    title: str
    # The body field set in the request ("quiz", "lesson_plan", "worksheet"; None: none), its
    # content in proto JSON and its size serialized as protobuf (what the body limit counts).
    body_field: str | None
    body: dict[str, Any]
    body_bytes: int
    book_ids: tuple[str, ...]
    atom_references: tuple[AtomReferenceDraft, ...]
    pedagogy_strategy_id: str
    etag: str = ""


@dataclass(frozen=True)
class ActiveBookDraft:
    book_id: str
    current_node_id: str
    current_page: int


@dataclass(frozen=True)
class ProfileDraft:
    """A TeacherProfile from UpdateProfile; output-only fields are not carried."""

    display_name: str
    grade_levels: tuple[str, ...]
    subjects: tuple[str, ...]
    language: str
    default_pedagogy_strategy_id: str
    active_books: tuple[ActiveBookDraft, ...]
