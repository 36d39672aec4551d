"""UserService rules: profiles, artifacts, revisions, optimistic concurrency and tenancy.

Every operation takes the owner's user id (the caller from the token) and passes it to the store,
whose every statement filters by it: another teacher's artifact is simply not found.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from common.errors import Aborted, InvalidArgument, NotFound
from common.pagination import PageTokens

if TYPE_CHECKING:  # the store imports this module's types
    from user_svc.store import StoreSession, UserStore


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


# Profile fields a teacher may change (UpdateProfile's update_mask paths).
PROFILE_MUTABLE_FIELDS = (
    "display_name",
    "grade_levels",
    "subjects",
    "language",
    "default_pedagogy_strategy_id",
    "active_books",
)


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

    @property
    def etag(self) -> str:
        return etag_of(self.artifact_id, self.revision)


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


def etag_of(artifact_id: UUID, revision: int) -> str:
    """Opaque (AIP-154) but derived from the revision, so it survives backups and restarts."""
    return hashlib.sha256(f"{artifact_id}:{revision}".encode()).hexdigest()[:20]


def apply_patch(current: ArtifactContent, patch: ArtifactPatch) -> ArtifactContent:
    changes: dict[str, Any] = {}
    if patch.title is not None:
        changes["title"] = patch.title
    if patch.body is not None:
        body_kind, body = patch.body
        if body_kind != current.kind:
            raise InvalidArgument(
                {"update_mask": f"the artifact is a {current.kind.value}; a {body_kind.value} body does not fit it"}
            )
        changes["body"] = body
    if patch.book_ids is not None:
        changes["book_ids"] = patch.book_ids
    if patch.atom_references is not None:
        changes["atom_references"] = patch.atom_references
    if patch.pedagogy_strategy_id is not None:
        changes["pedagogy_strategy_id"] = patch.pedagogy_strategy_id
    return replace(current, **changes)


@dataclass(frozen=True)
class ArtifactFilter:
    kind: ArtifactKind | None = None
    book_id: UUID | None = None


@dataclass(frozen=True)
class ArtifactCursor:
    """Position after the last artifact of a page (newest-first order)."""

    create_time: datetime
    artifact_id: UUID


class UserDomain:
    def __init__(self, store: UserStore, page_tokens: PageTokens) -> None:
        self._store = store
        self._tokens = page_tokens

    # Profiles

    def get_profile(self, user_id: str) -> Profile:
        with self._store.session() as session:
            profile = session.get_profile(user_id)
            if profile is None:
                # First access: create the default; concurrent first calls race safely (ON CONFLICT).
                session.ensure_profile(user_id)
                profile = session.get_profile(user_id)
        assert profile is not None
        return profile

    def update_profile(self, user_id: str, changes: dict[str, Any]) -> Profile:
        unknown = set(changes) - set(PROFILE_MUTABLE_FIELDS)
        if unknown:
            raise InvalidArgument({"update_mask": f"not updatable: {', '.join(sorted(unknown))}"})
        with self._store.session() as session:
            session.ensure_profile(user_id)
            return session.update_profile(user_id, changes)

    # Artifacts

    def create_artifact(self, owner_id: str, content: ArtifactContent) -> Artifact:
        with self._store.session() as session:
            return session.insert_artifact(owner_id, uuid4(), content)

    def get_artifact(self, owner_id: str, artifact_id: UUID) -> Artifact:
        with self._store.session() as session:
            artifact = session.get_artifact(owner_id, artifact_id)
        if artifact is None:
            raise NotFound("artifact", str(artifact_id))
        return artifact

    def list_artifacts(
        self, owner_id: str, where: ArtifactFilter, page_size: int, page_token: str
    ) -> tuple[list[Artifact], str]:
        query = {"kind": where.kind.value if where.kind else "", "book_id": str(where.book_id or "")}
        raw = self._tokens.decode(page_token, query=query)
        after = None
        if raw is not None:
            try:
                after = ArtifactCursor(datetime.fromisoformat(raw["t"]), UUID(raw["id"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise InvalidArgument({"page_token": "malformed page token"}) from exc
        with self._store.session() as session:
            rows = session.list_artifacts(owner_id, where, after, page_size + 1)
        page, more = rows[:page_size], len(rows) > page_size
        next_token = ""
        if more:
            last = page[-1]
            next_token = self._tokens.encode(
                {"t": last.create_time.isoformat(), "id": str(last.artifact_id)}, query=query
            )
        return page, next_token

    def update_artifact(self, owner_id: str, artifact_id: UUID, etag: str, patch: ArtifactPatch) -> Artifact:
        with self._store.session() as session:
            current = self._lock_current(session, owner_id, artifact_id, etag)
            content = apply_patch(current.content, patch)
            session.archive(current)
            return session.replace_content(current, content)

    def delete_artifact(self, owner_id: str, artifact_id: UUID, etag: str) -> None:
        with self._store.session() as session:
            if etag:
                self._lock_current(session, owner_id, artifact_id, etag)
            if not session.delete_artifact(owner_id, artifact_id):
                raise NotFound("artifact", str(artifact_id))

    def list_revisions(
        self, owner_id: str, artifact_id: UUID, page_size: int, page_token: str
    ) -> tuple[list[ArchivedRevision], str]:
        query = {"artifact_id": str(artifact_id)}
        raw = self._tokens.decode(page_token, query=query)
        before: int | None = None
        if raw is not None:
            before = raw.get("r")
            if not isinstance(before, int):
                raise InvalidArgument({"page_token": "malformed page token"})
        with self._store.session() as session:
            if session.get_artifact(owner_id, artifact_id) is None:
                raise NotFound("artifact", str(artifact_id))
            rows = session.list_revisions(owner_id, artifact_id, before, page_size + 1)
        page, more = rows[:page_size], len(rows) > page_size
        next_token = self._tokens.encode({"r": page[-1].artifact.revision}, query=query) if more else ""
        return page, next_token

    def get_revision(self, owner_id: str, artifact_id: UUID, revision: int) -> ArchivedRevision:
        with self._store.session() as session:
            archived = session.get_revision(owner_id, artifact_id, revision)
        if archived is None:
            raise NotFound("artifact revision", f"{artifact_id}/revisions/{revision}")
        return archived

    def rollback_artifact(self, owner_id: str, artifact_id: UUID, revision: int, etag: str) -> Artifact:
        """Makes an earlier revision's content current again, as a new revision (nothing is lost)."""
        with self._store.session() as session:
            current = self._lock_current(session, owner_id, artifact_id, etag)
            archived = session.get_revision(owner_id, artifact_id, revision)
            if archived is None:
                raise NotFound("artifact revision", f"{artifact_id}/revisions/{revision}")
            session.archive(current)
            return session.replace_content(current, archived.artifact.content)

    @staticmethod
    def _lock_current(session: StoreSession, owner_id: str, artifact_id: UUID, etag: str) -> Artifact:
        """The caller's artifact, row-locked for this transaction; ABORTED when `etag` is stale."""
        current = session.lock_artifact(owner_id, artifact_id)
        if current is None:
            raise NotFound("artifact", str(artifact_id))
        if etag != current.etag:
            raise Aborted(
                f"artifact {artifact_id} changed since it was read (now revision {current.revision}): "
                "re-read it and retry with the new etag"
            )
        return current
