"""All SQL of ContentService (db_content), by aggregate: books (with their outline and atoms),
retrieval, pedagogy, and the library writes behind `content_svc.writer`. Rows are mapped by column
name with psycopg's row factories."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from pgvector.psycopg import register_vector
from psycopg import Connection

Conn = Connection[Any]

def configure_connection(conn: Conn, *, ef_search: int | None = None) -> None:
    """Pool `configure` hook: pgvector types, autocommit, and HNSW scans that keep a filter complete.

    Autocommit: every read is one statement (READ COMMITTED would give each statement its own
    snapshot anyway), so BEGIN and COMMIT would be two more round trips per call; writes open
    their transactions explicitly. relaxed_order: an HNSW scan with a book filter continues until
    it has found as many rows as the LIMIT asks (pgvector 0.8's iterative scans), and the
    statement re-sorts them exactly.
    """
    conn.autocommit = True
    register_vector(conn)
    conn.execute("SET hnsw.iterative_scan = relaxed_order")
    # Searches are prepared statements whose best plan does not depend on the parameters (no
    # partitions to prune): planning them once saves 0.3-0.9 ms per search.
    conn.execute("SET plan_cache_mode = force_generic_plan")
    if ef_search is not None:
        conn.execute("SELECT set_config('hnsw.ef_search', %s, false)", (str(ef_search),))


def connection_setup(ef_search: int) -> Callable[[Conn], None]:
    return functools.partial(configure_connection, ef_search=ef_search)
