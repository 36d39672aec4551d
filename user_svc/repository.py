"""All SQL of UserService (db_user). Every statement filters by the owner's user id.

Functions take the caller's connection; the use cases decide what shares a transaction. Pool
connections are in autocommit (`configure_connection`), so a use case of one statement costs one
round trip, and several statements that must hold together run in `conn.transaction()`.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from functools import partial
from typing import Any
from uuid import UUID

from psycopg import Connection, sql
from psycopg.rows import kwargs_row
from psycopg.types.json import Jsonb

from user_svc.rules.types import (
    ActiveBook,
    ArchivedRevision,
    Artifact,
    ArtifactContent,
    ArtifactCursor,
    ArtifactFilter,
    ArtifactKind,
    AtomReference,
    Profile,
    ProfilePatch,
)

Conn = Connection[Any]

_PROFILE_COLUMNS = (
    "user_id, display_name, grade_levels, subjects, language, default_pedagogy_strategy_id, "
    "active_books, create_time, update_time"
)
_CONTENT_COLUMNS = "kind, title, body, book_ids, atom_references, pedagogy_strategy_id"
_ARTIFACT_COLUMNS = f"owner_id, artifact_id, {_CONTENT_COLUMNS}, revision, create_time, update_time"
_REVISION_COLUMNS = f"owner_id, artifact_id, revision, {_CONTENT_COLUMNS}, create_time, update_time, archive_time"


def configure_connection(conn: Conn) -> None:
    conn.autocommit = True


# Row mapping


def _profile(
    *, user_id: str, display_name: str, grade_levels: list[str], subjects: list[str], language: str,
    default_pedagogy_strategy_id: UUID | None, active_books: list[dict[str, Any]], create_time: datetime,
    update_time: datetime,
) -> Profile:
    return Profile(
        user_id=user_id,
        display_name=display_name,
        grade_levels=tuple(grade_levels),
        subjects=tuple(subjects),
        language=language,
        default_pedagogy_strategy_id=_optional_id(default_pedagogy_strategy_id),
        active_books=tuple(
            ActiveBook(UUID(book["book_id"]), book.get("current_node_id", ""), book.get("current_page", 0))
            for book in active_books
        ),
        create_time=create_time,
        update_time=update_time,
    )


def _artifact(
    *, owner_id: str, artifact_id: UUID, kind: str, title: str, body: dict[str, Any], book_ids: list[UUID],
    atom_references: list[dict[str, str]], pedagogy_strategy_id: UUID | None, revision: int,
    create_time: datetime, update_time: datetime,
) -> Artifact:
    return Artifact(
        owner_id=owner_id,
        artifact_id=artifact_id,
        content=ArtifactContent(
            kind=ArtifactKind(kind),
            title=title,
            body=body,
            book_ids=tuple(book_ids),
            atom_references=tuple(AtomReference(UUID(ref["book_id"]), ref["atom_id"]) for ref in atom_references),
            pedagogy_strategy_id=_optional_id(pedagogy_strategy_id),
        ),
        revision=revision,
        create_time=create_time,
        update_time=update_time,
    )


def _archived(*, archive_time: datetime, **columns: Any) -> ArchivedRevision:
    return ArchivedRevision(_artifact(**columns), archive_time)


def _optional_id(value: UUID | None) -> str:
    """Optional UUID columns are NULL when unset; the API and the rules use '' for that."""
    return str(value) if value is not None else ""


# Profiles


def get_profile(conn: Conn, user_id: str) -> Profile | None:
    return conn.cursor(row_factory=kwargs_row(_profile)).execute(
        f"SELECT {_PROFILE_COLUMNS} FROM teacher_profiles WHERE user_id = %(user_id)s", {"user_id": user_id}
    ).fetchone()


def ensure_profile(conn: Conn, user_id: str) -> None:
    """Creates the default profile unless there is one (concurrent callers race safely)."""
    conn.execute(
        "INSERT INTO teacher_profiles (user_id) VALUES (%(user_id)s) ON CONFLICT (user_id) DO NOTHING",
        {"user_id": user_id},
    )


def upsert_profile(conn: Conn, user_id: str, patch: ProfilePatch) -> Profile:
    """Writes the patch's fields into the profile, creating the default profile first if there is none."""
    params: dict[str, Any] = {"user_id": user_id}
    for field in fields(patch):
        value = getattr(patch, field.name)
        if value is None:
            continue
        if field.name == "default_pedagogy_strategy_id":
            value = value or None
        elif field.name == "active_books":
            value = Jsonb([_active_book_json(book) for book in value])
        elif isinstance(value, tuple):
            value = list(value)
        params[field.name] = value
    columns = [sql.Identifier(name) for name in params]
    updates = [sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(name)) for name in params if name != "user_id"]
    query = sql.SQL(
        "INSERT INTO teacher_profiles ({columns}) VALUES ({values}) "
        "ON CONFLICT (user_id) DO UPDATE SET {updates} RETURNING {returning}"
    ).format(
        columns=sql.SQL(", ").join(columns),
        values=sql.SQL(", ").join(sql.Placeholder(name) for name in params),
        updates=sql.SQL(", ").join([*updates, sql.SQL("update_time = now()")]),
        returning=sql.SQL(_PROFILE_COLUMNS),
    )
    profile = conn.cursor(row_factory=kwargs_row(_profile)).execute(query, params).fetchone()
    assert profile is not None
    return profile


def _active_book_json(book: ActiveBook) -> dict[str, Any]:
    return {"book_id": str(book.book_id), "current_node_id": book.current_node_id,
            "current_page": book.current_page}


# Artifacts


def insert_artifact(conn: Conn, owner_id: str, artifact_id: UUID, content: ArtifactContent) -> Artifact:
    # Only what the database assigns is read back: the content is what was just written.
    stored = partial(Artifact, owner_id=owner_id, artifact_id=artifact_id, content=content)
    artifact = conn.cursor(row_factory=kwargs_row(stored)).execute(
        f"""INSERT INTO class_artifacts (owner_id, artifact_id, {_CONTENT_COLUMNS})
            VALUES (%(owner_id)s, %(artifact_id)s, %(kind)s, %(title)s, %(body)s, %(book_ids)s,
                    %(atom_references)s, %(pedagogy_strategy_id)s)
            RETURNING revision, create_time, update_time""",
        {"owner_id": owner_id, "artifact_id": artifact_id, **_content_params(content)},
    ).fetchone()
    assert artifact is not None
    return artifact


def get_artifact(conn: Conn, owner_id: str, artifact_id: UUID) -> Artifact | None:
    return conn.cursor(row_factory=kwargs_row(_artifact)).execute(
        f"SELECT {_ARTIFACT_COLUMNS} FROM class_artifacts WHERE owner_id = %(owner_id)s AND artifact_id = %(id)s",
        {"owner_id": owner_id, "id": artifact_id},
    ).fetchone()


def lock_artifact(conn: Conn, owner_id: str, artifact_id: UUID) -> Artifact | None:
    """The current version, locked until the transaction ends (serialises concurrent writers)."""
    return conn.cursor(row_factory=kwargs_row(_artifact)).execute(
        f"SELECT {_ARTIFACT_COLUMNS} FROM class_artifacts "
        "WHERE owner_id = %(owner_id)s AND artifact_id = %(id)s FOR UPDATE",
        {"owner_id": owner_id, "id": artifact_id},
    ).fetchone()


def list_artifacts(
    conn: Conn, owner_id: str, where: ArtifactFilter, after: ArtifactCursor | None, limit: int
) -> list[Artifact]:
    """Newest first, keyset-paginated on (create_time, artifact_id) descending."""
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
        "SELECT {} FROM class_artifacts WHERE {} ORDER BY create_time DESC, artifact_id DESC LIMIT %(limit)s"
    ).format(sql.SQL(_ARTIFACT_COLUMNS), sql.SQL(" AND ").join(conditions))
    return conn.cursor(row_factory=kwargs_row(_artifact)).execute(query, params).fetchall()


def archive(conn: Conn, current: Artifact) -> None:
    """Keeps `current` as an earlier version (same transaction as the change that replaces it)."""
    conn.execute(
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


def replace_content(conn: Conn, current: Artifact, content: ArtifactContent) -> Artifact:
    """Writes `content` as the revision after `current` (which the caller holds locked)."""
    artifact = conn.cursor(row_factory=kwargs_row(_artifact)).execute(
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
    ).fetchone()
    assert artifact is not None, "replace_content needs the locked current revision"
    return artifact


def delete_artifact(conn: Conn, owner_id: str, artifact_id: UUID) -> bool:
    """Deletes the artifact and its revisions; False when the caller has no such artifact."""
    cur = conn.execute(
        "DELETE FROM class_artifacts WHERE owner_id = %(owner_id)s AND artifact_id = %(id)s",
        {"owner_id": owner_id, "id": artifact_id},
    )
    return cur.rowcount > 0


def list_revisions(
    conn: Conn, owner_id: str, artifact_id: UUID, before_revision: int | None, limit: int
) -> list[ArchivedRevision]:
    """Newest first, keyset-paginated on the revision number."""
    return conn.cursor(row_factory=kwargs_row(_archived)).execute(
        f"""SELECT {_REVISION_COLUMNS} FROM artifact_revisions
            WHERE owner_id = %(owner_id)s AND artifact_id = %(id)s
              AND (%(before)s::bigint IS NULL OR revision < %(before)s::bigint)
            ORDER BY revision DESC LIMIT %(limit)s""",
        {"owner_id": owner_id, "id": artifact_id, "before": before_revision, "limit": limit},
    ).fetchall()


def get_revision(conn: Conn, owner_id: str, artifact_id: UUID, revision: int) -> ArchivedRevision | None:
    return conn.cursor(row_factory=kwargs_row(_archived)).execute(
        f"""SELECT {_REVISION_COLUMNS} FROM artifact_revisions
            WHERE owner_id = %(owner_id)s AND artifact_id = %(id)s AND revision = %(revision)s""",
        {"owner_id": owner_id, "id": artifact_id, "revision": revision},
    ).fetchone()


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
