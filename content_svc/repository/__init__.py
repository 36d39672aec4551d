"""All SQL of ContentService (db_content), by aggregate: books (with their outline and atoms),
retrieval, pedagogy, and the library writes behind `content_svc.writer`. Rows are mapped by column
name with psycopg's row factories."""

from __future__ import annotations

from typing import Any

from pgvector.psycopg import register_vector
from psycopg import Connection

Conn = Connection[Any]


def configure_connection(conn: Conn) -> None:
    """Pool `configure` hook: pgvector types, and no server-side prepared statements.

    Our search SQL depends on the parameters (partition pruning happens at plan time with the
    actual book ids), so custom plans are what we want.
    """
    conn.autocommit = True
    register_vector(conn)
    conn.prepare_threshold = None
    conn.autocommit = False
