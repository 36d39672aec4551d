"""psycopg connection pools for the two databases, and the probe that tells health whether one is up.

A database outage fails fast and honestly: a call gets a connection within
`DB_CHECKOUT_TIMEOUT_SECONDS` or gives up, connecting gives up after `DB_CONNECT_TIMEOUT_SECONDS`, and
both that and a connection lost mid-call become `common.errors.Unavailable` here, in one place (the
caller sees UNAVAILABLE, never a 30 s hang, INTERNAL or a database message). The pool replaces lost
connections by itself once the database is back: nothing needs a restart, and a call after a
restart gets a fresh connection, not one the server ended.
"""

from __future__ import annotations

import contextlib
import logging
import select
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
from psycopg import Connection
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool, PoolTimeout

from common.errors import Unavailable
from common.metrics import observe_pool
from common.settings import Settings

log = logging.getLogger(__name__)

Configure = Callable[[Connection[TupleRow]], None]
DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"
# How long a pool starting before its database waits for it (devstack, compose, rolling deploys).
STARTUP_WAIT_SECONDS = 30.0


class ServicePool(ConnectionPool[Connection[TupleRow]]):
    """A pool whose checkouts fail fast with `Unavailable` when the database is unreachable."""

    def __init__(self, conninfo: str, settings: Settings, *, database: str, name: str,
                 configure: Configure | None = None) -> None:
        super().__init__(
            conninfo,
            configure=configure,
            # No check of psycopg_pool's: after finding a bad connection it sleeps a second (then
            # two...) before the next, so a few dead ones exceed the checkout timeout; getconn below
            # skips them without sleeping.
            check=None,
            min_size=settings.db_pool_min_size,
            max_size=settings.db_pool_max_size,
            name=name,
            open=False,
            timeout=settings.db_checkout_timeout_seconds,
            # Patient while the service starts (the database may come up after it); see open_waiting.
            reconnect_timeout=STARTUP_WAIT_SECONDS,
            kwargs={"application_name": name, "connect_timeout": settings.db_connect_timeout_seconds},
        )
        self.database = database
        self._reconnect_after_start = settings.db_reconnect_timeout_seconds

    def open_waiting(self) -> None:
        """Open, waiting (bounded) for the database; then give up failed reconnections quickly.

        psycopg_pool retries a lost connection with a doubling delay until `reconnect_timeout`; a
        short one ends those retries soon, and the next call that finds the pool empty starts a
        fresh attempt, so the pool refills within seconds of the database's return whatever the
        length of the outage.
        """
        self.open(wait=True, timeout=STARTUP_WAIT_SECONDS)
        self.reconnect_timeout = self._reconnect_after_start

    def getconn(self, timeout: float | None = None) -> Connection[TupleRow]:
        """A connection the server has not ended: ones it ended (a restart, an admin's kill) are
        closed, so the pool replaces them, and the next is taken at once, within the timeout."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            conn = super().getconn(max(deadline - time.monotonic(), 0.0))
            if not ended_by_server(conn):
                return conn
            conn.close()
            self.putconn(conn)

    @contextlib.contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[Connection[TupleRow]]:
        try:
            with super().connection(timeout) as conn:
                yield conn
        except PoolTimeout as error:
            raise self._unavailable("no connection could be had in time", error) from None
        except psycopg.OperationalError as error:
            raise self._unavailable("the connection failed", error) from None

    def _unavailable(self, what: str, error: Exception) -> Unavailable:
        log.warning("%s: %s: %s", self.database, what, error)
        return Unavailable(
            f"the database {self.database} is unavailable (down or overloaded); retry with backoff",
            reason=DATABASE_UNAVAILABLE,
        )


def ended_by_server(conn: Connection[Any]) -> bool:
    """Whether a pooled connection is unusable, without a round trip when it is evidently sound.

    An idle connection has nothing to read. When the server ends it (a restart, an admin's kill, an
    idle timeout) it sends an error and closes, so the socket turns readable: only then, or when the
    connection is not idle, does the full check (an empty query, one round trip) run. The round trip
    on every checkout cost about a tenth of a millisecond per call.
    """
    if conn.closed:
        return True
    if conn.info.transaction_status == TransactionStatus.IDLE and not _readable(conn.fileno()):
        return False
    try:
        ConnectionPool.check_connection(conn)
    except psycopg.Error:
        return True
    return False


def _readable(fd: int) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))  # POLLHUP and POLLERR are reported too


def open_pool(
    conninfo: str, settings: Settings, *, database: str, name: str, configure: Configure | None = None
) -> ServicePool:
    """An opened pool; waits (bounded) for the database so services can start before it is ready."""
    pool = ServicePool(conninfo, settings, database=database, name=name, configure=configure)
    pool.open_waiting()
    observe_pool(pool)
    return pool


def content_pool(settings: Settings, *, name: str = "content", configure: Configure | None = None) -> ServicePool:
    return open_pool(settings.content_conninfo(), settings, database="db_content", name=name, configure=configure)


def user_pool(settings: Settings, *, name: str = "user", configure: Configure | None = None) -> ServicePool:
    return open_pool(settings.user_conninfo(), settings, database="db_user", name=name, configure=configure)


class PostgresCheck:
    """A health check: `SELECT 1` on a connection of its own (so it measures reachability, not the
    pool's load), reconnecting after a failure. Called from one probe thread only."""

    def __init__(self, conninfo: str, settings: Settings) -> None:
        self._conninfo = conninfo
        self._connect_timeout = settings.db_connect_timeout_seconds
        self._conn: Connection[TupleRow] | None = None

    def __call__(self) -> None:
        try:
            if self._conn is None:
                self._conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=self._connect_timeout,
                                             application_name="health-probe")
            self._conn.execute("SELECT 1")
        except Exception:
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            raise
