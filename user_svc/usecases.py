"""UserService's use cases: each takes a connection from the pool, opens a transaction where several
statements must hold together, and calls the rules and the repository. Called by the thin api.py.

Every operation takes the owner's user id (the caller from the token) and passes it to the
repository, whose every statement filters by it: another teacher's artifact is simply not found.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID, uuid4

import pydantic
from psycopg import Connection
from psycopg_pool import ConnectionPool

from common.errors import Unavailable
from common.pagination import Page, PageTokens
from user_svc import repository
from user_svc.repository import Conn
from user_svc.rules import artifacts, references
from user_svc.rules.references import CheckedArtifact, Library, ReferenceCheck, ReferenceStatus
from user_svc.rules.types import (
    ArchivedRevision,
    Artifact,
    ArtifactContent,
    ArtifactCursor,
    ArtifactFilter,
    ArtifactPatch,
    Profile,
    ProfilePatch,
)

_ARTIFACTS_CURSOR = pydantic.TypeAdapter(ArtifactCursor)
_REVISIONS_CURSOR = pydantic.TypeAdapter(int)


class UserUseCases:
    def __init__(self, pool: ConnectionPool[Connection[Any]], page_tokens: PageTokens, library: Library) -> None:
        self._pool = pool
        self._tokens = page_tokens
        self._library = library

    @contextmanager
    def _transaction(self) -> Iterator[Conn]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        with self._pool.connection() as conn, conn.transaction():
            yield conn

    # Profiles

    def get_profile(self, user_id: str) -> Profile:
        with self._pool.connection() as conn:
            profile = repository.get_profile(conn, user_id)
            if profile is None:
                # First access: create the default; concurrent first calls race safely (ON CONFLICT).
                repository.ensure_profile(conn, user_id)
                profile = repository.get_profile(conn, user_id)
        assert profile is not None
        return profile

    def update_profile(self, user_id: str, patch: ProfilePatch) -> Profile:
        with self._pool.connection() as conn:
            return repository.upsert_profile(conn, user_id, patch)

    # Artifacts

    # Writes check the references they write with the library first, as the caller
    # (`authorization`: the caller's bearer header), before any database work: an unknown reference
    # is INVALID_ARGUMENT, an unreachable library UNAVAILABLE, and either way nothing is written.
    # Every use case returning one artifact also says whether all its references still resolve
    # (from what the library confirmed within REFERENCE_CACHE_SECONDS, or asked again).

    def create_artifact(self, owner_id: str, content: ArtifactContent, authorization: str) -> CheckedArtifact:
        cited = references.of_content(content)
        found = self._library.find(cited, owner_id, authorization)
        references.check_written(cited, found)
        with self._pool.connection() as conn:
            created = repository.insert_artifact(conn, owner_id, uuid4(), content)
        return CheckedArtifact(created, references.status(cited, found))

    def get_artifact(self, owner_id: str, artifact_id: UUID, authorization: str) -> CheckedArtifact:
        """The artifact, readable whether or not its references still resolve."""
        with self._pool.connection() as conn:
            artifact = repository.get_artifact(conn, owner_id, artifact_id)
        if artifact is None:
            raise artifacts.artifact_not_found(artifact_id)
        return self._checked(artifact, authorization)

    def list_artifacts(
        self, owner_id: str, where: ArtifactFilter, requested_page_size: int, page_token: str
    ) -> Page[Artifact]:
        def fetch(after: ArtifactCursor | None, limit: int) -> list[Artifact]:
            with self._pool.connection() as conn:
                return repository.list_artifacts(conn, owner_id, where, after, limit)

        query = {"owner": owner_id, "kind": where.kind.value if where.kind else "", "book_id": str(where.book_id or "")}
        return self._tokens.paginate(
            requested_page_size, page_token, query=query, cursor=_ARTIFACTS_CURSOR, fetch=fetch,
            cursor_of=lambda artifact: ArtifactCursor(artifact.create_time, artifact.artifact_id),
        )

    def update_artifact(
        self, owner_id: str, artifact_id: UUID, etag: str, patch: ArtifactPatch, authorization: str
    ) -> CheckedArtifact:
        """Checks only the references the patch writes: a quiz whose book was deleted can still be retitled."""
        written = references.written_by(patch)
        references.check_written(written, self._library.find(written, owner_id, authorization))
        with self._transaction() as conn:
            current = _lock_current(conn, owner_id, artifact_id, etag)
            content = artifacts.apply_patch(current.content, patch)
            repository.archive(conn, current)
            updated = repository.replace_content(conn, current, content)
        return self._checked(updated, authorization)

    def delete_artifact(self, owner_id: str, artifact_id: UUID, etag: str) -> None:
        with self._transaction() as conn:
            if etag:
                _lock_current(conn, owner_id, artifact_id, etag)
            if not repository.delete_artifact(conn, owner_id, artifact_id):
                raise artifacts.artifact_not_found(artifact_id)

    def list_revisions(
        self, owner_id: str, artifact_id: UUID, requested_page_size: int, page_token: str
    ) -> Page[ArchivedRevision]:
        def fetch(before: int | None, limit: int) -> list[ArchivedRevision]:
            with self._pool.connection() as conn:
                revisions = repository.list_revisions(conn, owner_id, artifact_id, before, limit)
                # Revisions exist only for an existing artifact; none may also mean no such artifact.
                if not revisions and repository.get_artifact(conn, owner_id, artifact_id) is None:
                    raise artifacts.artifact_not_found(artifact_id)
            return revisions

        return self._tokens.paginate(
            requested_page_size, page_token, query={"owner": owner_id, "artifact_id": str(artifact_id)},
            cursor=_REVISIONS_CURSOR, fetch=fetch, cursor_of=lambda archived: archived.artifact.revision,
        )

    def get_revision(self, owner_id: str, artifact_id: UUID, revision: int) -> ArchivedRevision:
        with self._pool.connection() as conn:
            archived = repository.get_revision(conn, owner_id, artifact_id, revision)
        if archived is None:
            raise artifacts.revision_not_found(artifact_id, revision)
        return archived

    def rollback_artifact(
        self, owner_id: str, artifact_id: UUID, revision: int, etag: str, authorization: str
    ) -> CheckedArtifact:
        """Makes an earlier revision's content current again, as a new revision (nothing is lost).

        Its references were checked when they were written and are not refused now (a rollback stays
        possible after a cited book is deleted); the answer flags the ones that no longer resolve.
        """
        with self._transaction() as conn:
            current = _lock_current(conn, owner_id, artifact_id, etag)
            archived = repository.get_revision(conn, owner_id, artifact_id, revision)
            if archived is None:
                raise artifacts.revision_not_found(artifact_id, revision)
            repository.archive(conn, current)
            restored = repository.replace_content(conn, current, archived.artifact.content)
        return self._checked(restored, authorization)

    def _checked(self, artifact: Artifact, authorization: str) -> CheckedArtifact:
        """The artifact with its references looked up (or recently confirmed); an unreachable library
        leaves them unchecked."""
        cited = references.of_content(artifact.content)
        try:
            found = self._library.find_recent(cited, artifact.owner_id, authorization)
        except Unavailable:
            return CheckedArtifact(artifact, ReferenceStatus(ReferenceCheck.UNAVAILABLE))
        return CheckedArtifact(artifact, references.status(cited, found))


def _lock_current(conn: Conn, owner_id: str, artifact_id: UUID, etag: str) -> Artifact:
    """The caller's artifact, row-locked for this transaction; ABORTED when `etag` is stale."""
    current = repository.lock_artifact(conn, owner_id, artifact_id)
    if current is None:
        raise artifacts.artifact_not_found(artifact_id)
    artifacts.check_etag(current, etag)
    return current
