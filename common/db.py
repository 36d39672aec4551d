"""psycopg connection pools for the two databases."""

from __future__ import annotations

from collections.abc import Callable

from psycopg import Connection
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool

from common.settings import Settings

Configure = Callable[[Connection[TupleRow]], None]


def open_pool(
    conninfo: str, settings: Settings, *, name: str, configure: Configure | None = None
) -> ConnectionPool[Connection[TupleRow]]:
    """An opened pool; waits (bounded) for the database so services can start before it is ready."""
    pool: ConnectionPool[Connection[TupleRow]] = ConnectionPool(
        conninfo,
        configure=configure,
        # Validate on checkout so a Postgres restart costs a reconnect, not a failed call.
        check=ConnectionPool.check_connection,
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
        name=name,
        open=False,
        kwargs={"application_name": name},
    )
    pool.open(wait=True, timeout=30)
    return pool


def content_pool(
    settings: Settings, *, name: str = "content", configure: Configure | None = None
) -> ConnectionPool[Connection[TupleRow]]:
    return open_pool(settings.content_conninfo(), settings, name=name, configure=configure)


def user_pool(
    settings: Settings, *, name: str = "user", configure: Configure | None = None
) -> ConnectionPool[Connection[TupleRow]]:
    return open_pool(settings.user_conninfo(), settings, name=name, configure=configure)
