"""All SQL of UserService (db_user). Every statement filters by the owner's user id."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection, sql
from psycopg.rows import TupleRow, dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from user_svc.domain import (
    PROFILE_MUTABLE_FIELDS,
    ActiveBook,
    ArchivedRevision,
    Artifact,
    ArtifactContent,
    ArtifactCursor,
    ArtifactFilter,
    ArtifactKind,
    AtomReference,
    Profile,
)

Row = dict[str, Any]

_PROFILE_COLUMNS = (
    "user_id, display_name, grade_levels, subjects, language, default_pedagogy_strategy_id, "
    "active_books, create_time, update_time"
)
_CONTENT_COLUMNS = "kind, title, body, book_ids, atom_references, pedagogy_strategy_id"
_ARTIFACT_COLUMNS = f"owner_id, artifact_id, {_CONTENT_COLUMNS}, revision, create_time, update_time"


class UserStore:
    def __init__(self, pool: ConnectionPool[Connection[TupleRow]]) -> None:
        self._pool = pool

    @contextmanager
    def session(self) -> Iterator[StoreSession]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        with self._pool.connection() as conn, conn.transaction():
            yield StoreSession(conn)


class StoreSession:
    def __init__(self, conn: Connection[TupleRow]) -> None:
        self._conn = conn

    def _one(self, query: str | sql.Composed, params: dict[str, Any]) -> Row | None:
        with self._conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, params)
            return cur.fetchone()

    def _all(self, query: str | sql.Composed, params: dict[str, Any]) -> list[Row]:
        with self._conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, params)
            return cur.fetchall()

    # Profiles

    def get_profile(self, user_id: str) -> Profile | None:
        row = self._one(f"SELECT {_PROFILE_COLUMNS} FROM teacher_profiles WHERE user_id = %(user_id)s",
                        {"user_id": user_id})
        return _profile(row) if row else None

    def ensure_profile(self, user_id: str) -> None:
        self._conn.execute(
            "INSERT INTO teacher_profiles (user_id) VALUES (%(user_id)s) ON CONFLICT (user_id) DO NOTHING",
            {"user_id": user_id},
        )

    def update_profile(self, user_id: str, changes: dict[str, Any]) -> Profile:
        params: dict[str, Any] = {"user_id": user_id}
        assignments: list[sql.Composable] = [sql.SQL("update_time = now()")]
        for field, value in changes.items():
            if field not in PROFILE_MUTABLE_FIELDS:
                raise ValueError(f"not a mutable profile field: {field}")
            if field == "default_pedagogy_strategy_id":
                value = value or None
            elif field == "active_books":
                value = Jsonb([_active_book_json(book) for book in value])
            elif isinstance(value, tuple):
                value = list(value)
            params[field] = value
            assignments.append(sql.SQL("{} = {}").format(sql.Identifier(field), sql.Placeholder(field)))
        query = sql.SQL("UPDATE teacher_profiles SET {} WHERE user_id = %(user_id)s RETURNING {}").format(
            sql.SQL(", ").join(assignments), sql.SQL(_PROFILE_COLUMNS)
        )
        row = self._one(query, params)
        assert row is not None, "update_profile needs an existing profile (ensure_profile first)"
        return _profile(row)

    # Artifacts

    def insert_artifact(self, owner_id: str, artifact_id: UUID, content: ArtifactContent) -> Artifact:
        row = self._one(
            f"""INSERT INTO class_artifacts (owner_id, artifact_id, {_CONTENT_COLUMNS})
                VALUES (%(owner_id)s, %(artifact_id)s, %(kind)s, %(title)s, %(body)s, %(book_ids)s,
                        %(atom_references)s, %(pedagogy_strategy_id)s)
                RETURNING {_ARTIFACT_COLUMNS}""",
            {"owner_id": owner_id, "artifact_id": artifact_id, **_content_params(content)},
        )
        assert row is not None
        return _artifact(row)

    def get_artifact(self, owner_id: str, artifact_id: UUID) -> Artifact | None:
        row = self._one(
            f"SELECT {_ARTIFACT_COLUMNS} FROM class_artifacts "
            "WHERE owner_id = %(owner_id)s AND artifact_id = %(artifact_id)s",
            {"owner_id": owner_id, "artifact_id": artifact_id},
        )
        return _artifact(row) if row else None

    def lock_artifact(self, owner_id: str, artifact_id: UUID) -> Artifact | None:
        """The current version, locked until the transaction ends (serialises concurrent writers)."""
        row = self._one(
            f"SELECT {_ARTIFACT_COLUMNS} FROM class_artifacts "
            "WHERE owner_id = %(owner_id)s AND artifact_id = %(artifact_id)s FOR UPDATE",
            {"owner_id": owner_id, "artifact_id": artifact_id},
        )
        return _artifact(row) if row else None

    def list_artifacts(
        self, owner_id: str, where: ArtifactFilter, after: ArtifactCursor | None, limit: int
    ) -> list[Artifact]:
        conditions = [sql.SQL("owner_id = %(owner_id)s")]
        params: dict[str, Any] = {"owner_id": owner_id, "limit": limit}
        if where.kind is not None:
            conditions.append(sql.SQL("kind = %(kind)s"))
            params["kind"] = where.kind.value
        if where.book_id is not None:
            conditions.append(sql.SQL("book_ids @> ARRAY[%(book_id)s]::uuid[]"))
            params["book_id"] = where.book_id
        if after is not None:
            conditions.append(sql.SQL("(create_time, artifact_id) < (%(after_time)s, %(after_id)s)"))
            params["after_time"], params["after_id"] = after.create_time, after.artifact_id
        query = sql.SQL(
            "SELECT {} FROM class_artifacts WHERE {} "
            "ORDER BY create_time DESC, artifact_id DESC LIMIT %(limit)s"
        ).format(sql.SQL(_ARTIFACT_COLUMNS), sql.SQL(" AND ").join(conditions))
        return [_artifact(row) for row in self._all(query, params)]

    def archive(self, current: Artifact) -> None:
        """Keeps `current` as an earlier version (same transaction as the change that replaces it)."""
        self._conn.execute(
            f"""INSERT INTO artifact_revisions (owner_id, artifact_id, revision, {_CONTENT_COLUMNS},
                                                create_time, update_time)
                VALUES (%(owner_id)s, %(artifact_id)s, %(revision)s, %(kind)s, %(title)s, %(body)s,
                        %(book_ids)s, %(atom_references)s, %(pedagogy_strategy_id)s,
                        %(create_time)s, %(update_time)s)""",
            {
                "owner_id": current.owner_id,
                "artifact_id": current.artifact_id,
                "revision": current.revision,
                "create_time": current.create_time,
                "update_time": current.update_time,
                **_content_params(current.content),
            },
        )

    def replace_content(self, current: Artifact, content: ArtifactContent) -> Artifact:
        """Writes `content` as the revision after `current` (which the caller holds locked)."""
        row = self._one(
            f"""UPDATE class_artifacts
                SET kind = %(kind)s, title = %(title)s, body = %(body)s, book_ids = %(book_ids)s,
                    atom_references = %(atom_references)s, pedagogy_strategy_id = %(pedagogy_strategy_id)s,
                    revision = revision + 1, update_time = now()
                WHERE owner_id = %(owner_id)s AND artifact_id = %(artifact_id)s AND revision = %(revision)s
                RETURNING {_ARTIFACT_COLUMNS}""",
            {
                "owner_id": current.owner_id,
                "artifact_id": current.artifact_id,
                "revision": current.revision,
                **_content_params(content),
            },
        )
        assert row is not None, "replace_content needs the locked current revision"
        return _artifact(row)

    def delete_artifact(self, owner_id: str, artifact_id: UUID) -> bool:
        """Deletes the artifact and its revisions; False when the caller has no such artifact."""
        cur = self._conn.execute(
            "DELETE FROM class_artifacts WHERE owner_id = %(owner_id)s AND artifact_id = %(artifact_id)s",
            {"owner_id": owner_id, "artifact_id": artifact_id},
        )
        return cur.rowcount > 0

    def list_revisions(
        self, owner_id: str, artifact_id: UUID, before_revision: int | None, limit: int
    ) -> list[ArchivedRevision]:
        rows = self._all(
            f"""SELECT owner_id, artifact_id, revision, {_CONTENT_COLUMNS}, create_time, update_time,
                       archive_time
                FROM artifact_revisions
                WHERE owner_id = %(owner_id)s AND artifact_id = %(artifact_id)s
                  AND (%(before)s::bigint IS NULL OR revision < %(before)s::bigint)
                ORDER BY revision DESC LIMIT %(limit)s""",
            {"owner_id": owner_id, "artifact_id": artifact_id, "before": before_revision, "limit": limit},
        )
        return [ArchivedRevision(_artifact(row), row["archive_time"]) for row in rows]

    def get_revision(self, owner_id: str, artifact_id: UUID, revision: int) -> ArchivedRevision | None:
        row = self._one(
            f"""SELECT owner_id, artifact_id, revision, {_CONTENT_COLUMNS}, create_time, update_time,
                       archive_time
                FROM artifact_revisions
                WHERE owner_id = %(owner_id)s AND artifact_id = %(artifact_id)s AND revision = %(revision)s""",
            {"owner_id": owner_id, "artifact_id": artifact_id, "revision": revision},
        )
        return ArchivedRevision(_artifact(row), row["archive_time"]) if row else None


def _active_book_json(book: ActiveBook) -> dict[str, Any]:
    return {"book_id": str(book.book_id), "current_node_id": book.current_node_id,
            "current_page": book.current_page}


def _optional_id(value: UUID | None) -> str:
    """Optional UUID columns are NULL when unset; the API and domain use '' for that."""
    return str(value) if value is not None else ""


def _profile(row: Row) -> Profile:
    return Profile(
        user_id=row["user_id"],
        display_name=row["display_name"],
        grade_levels=tuple(row["grade_levels"]),
        subjects=tuple(row["subjects"]),
        language=row["language"],
        default_pedagogy_strategy_id=_optional_id(row["default_pedagogy_strategy_id"]),
        active_books=tuple(
            ActiveBook(UUID(book["book_id"]), book.get("current_node_id", ""), book.get("current_page", 0))
            for book in row["active_books"]
        ),
        create_time=row["create_time"],
        update_time=row["update_time"],
    )


def _content_params(content: ArtifactContent) -> dict[str, Any]:
    return {
        "kind": content.kind.value,
        "title": content.title,
        "body": Jsonb(content.body),
        "book_ids": list(content.book_ids),
        "atom_references": Jsonb(
            [{"book_id": str(ref.book_id), "atom_id": ref.atom_id} for ref in content.atom_references]
        ),
        "pedagogy_strategy_id": content.pedagogy_strategy_id or None,
    }


def _artifact(row: Row) -> Artifact:
    created: datetime = row["create_time"]
    return Artifact(
        owner_id=row["owner_id"],
        artifact_id=row["artifact_id"],
        content=ArtifactContent(
            kind=ArtifactKind(row["kind"]),
            title=row["title"],
            body=row["body"],
            book_ids=tuple(row["book_ids"]),
            atom_references=tuple(
                AtomReference(UUID(ref["book_id"]), ref["atom_id"]) for ref in row["atom_references"]
            ),
            pedagogy_strategy_id=_optional_id(row["pedagogy_strategy_id"]),
        ),
        revision=row["revision"],
        create_time=created,
        update_time=row["update_time"],
    )
