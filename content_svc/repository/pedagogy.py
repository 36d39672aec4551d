"""Pedagogy strategies (global: owner_id IS NULL; private: owner_id = the teacher) and the list
versions that key their cached pages."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, NamedTuple

from psycopg import Cursor, sql
from psycopg.rows import class_row, scalar_row

from content_svc.repository import Conn
from content_svc.rules.types import Scope, Strategy, StrategyFields

_STRATEGY_COLUMNS = "strategy_id, owner_id, name, description, instructions, tags, create_time, update_time"


def _strategies(conn: Conn) -> Cursor[Strategy]:
    return conn.cursor(row_factory=class_row(Strategy))


def get_visible_strategy(conn: Conn, user_id: str, strategy_id: uuid.UUID) -> Strategy | None:
    return _strategies(conn).execute(
        f"""SELECT {_STRATEGY_COLUMNS} FROM pedagogy_strategies
            WHERE strategy_id = %s AND (owner_id IS NULL OR owner_id = %s)""",
        (strategy_id, user_id),
    ).fetchone()


def visible_strategy_ids(conn: Conn, user_id: str, strategy_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Those of `strategy_ids` that exist and are global or the user's own."""
    rows = conn.cursor(row_factory=scalar_row).execute(
        """SELECT strategy_id FROM pedagogy_strategies
           WHERE strategy_id = ANY(%s) AND (owner_id IS NULL OR owner_id = %s)""",
        (list(strategy_ids), user_id),
    ).fetchall()
    return set(rows)


def list_visible_strategies(
    conn: Conn, user_id: str, scope: Scope, limit: int, after: tuple[str, uuid.UUID] | None
) -> list[Strategy]:
    """Ordered by (name, strategy_id), keyset-paginated."""
    conditions = {
        Scope.ANY: "(owner_id IS NULL OR owner_id = %(user)s)",
        Scope.GLOBAL: "owner_id IS NULL",
        Scope.PRIVATE: "owner_id = %(user)s",
    }[scope]
    keyset = "AND (name, strategy_id) > (%(after_name)s, %(after_id)s)" if after is not None else ""
    after_name, after_id = after or (None, None)
    return _strategies(conn).execute(
        f"""SELECT {_STRATEGY_COLUMNS} FROM pedagogy_strategies WHERE {conditions} {keyset}
            ORDER BY name, strategy_id LIMIT %(limit)s""",
        {"user": user_id, "limit": limit, "after_name": after_name, "after_id": after_id},
    ).fetchall()


def insert_strategy(conn: Conn, strategy_id: uuid.UUID, owner_id: str | None, fields: StrategyFields) -> Strategy:
    strategy = _strategies(conn).execute(
        f"""INSERT INTO pedagogy_strategies (strategy_id, owner_id, name, description, instructions, tags)
            VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_STRATEGY_COLUMNS}""",
        (strategy_id, owner_id, fields.name, fields.description, fields.instructions, fields.tags),
    ).fetchone()
    assert strategy is not None
    bump_list_version(conn, owner_id)
    return strategy


def lock_strategy(conn: Conn, strategy_id: uuid.UUID) -> Strategy | None:
    return _strategies(conn).execute(
        f"SELECT {_STRATEGY_COLUMNS} FROM pedagogy_strategies WHERE strategy_id = %s FOR UPDATE", (strategy_id,)
    ).fetchone()


def update_strategy(conn: Conn, strategy_id: uuid.UUID, changes: dict[str, Any]) -> Strategy:
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column)) for column in changes
    )
    strategy = _strategies(conn).execute(
        sql.SQL(
            "UPDATE pedagogy_strategies SET {}, update_time = now() WHERE strategy_id = %(strategy_id)s RETURNING "
        ).format(assignments) + sql.SQL(_STRATEGY_COLUMNS),
        {**changes, "strategy_id": strategy_id},
    ).fetchone()
    assert strategy is not None
    bump_list_version(conn, strategy.owner_id)
    return strategy


def delete_strategy(conn: Conn, strategy: Strategy) -> None:
    conn.execute("DELETE FROM pedagogy_strategies WHERE strategy_id = %s", (strategy.strategy_id,))
    bump_list_version(conn, strategy.owner_id)


def bump_list_version(conn: Conn, owner_id: str | None) -> None:
    conn.execute(
        """INSERT INTO pedagogy_list_versions (owner_key, version) VALUES (%s, 1)
           ON CONFLICT (owner_key) DO UPDATE SET version = pedagogy_list_versions.version + 1""",
        (owner_id or "",),
    )


class ListVersions(NamedTuple):
    global_version: int
    own_version: int


def list_versions(conn: Conn, user_id: str) -> ListVersions:
    """The version of the global list and of this user's own list (0 before the first change)."""
    versions = conn.cursor(row_factory=class_row(ListVersions)).execute(
        """SELECT coalesce(max(version) FILTER (WHERE owner_key = ''), 0)::int8 AS global_version,
                  coalesce(max(version) FILTER (WHERE owner_key = %s), 0)::int8 AS own_version
           FROM pedagogy_list_versions WHERE owner_key IN ('', %s)""",
        (user_id, user_id),
    ).fetchone()
    assert versions is not None  # an aggregate always returns a row
    return versions
