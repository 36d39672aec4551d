"""Which in-flight jobs the outbox relay dispatches again (ingest_svc.repository.recover_orphans).

Each case runs in a transaction that is rolled back, so the relays of the running stack (which
recover every few seconds) never see its rows: the answer is the function's alone. The last test
commits a job claimed by a live worker, which those relays leave alone.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from ingest_svc import repository
from tests.ingest.helpers import wait_for

DEAD_AFTER, STALE_AFTER = 20.0, 300.0
LIVE, DEAD, OWN = "worker-live@host", "worker-dead@host", "worker-own@host"


@pytest.fixture
def conn(stack: Any) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(stack.settings.content_conninfo()) as connection, \
            connection.transaction(force_rollback=True):
        # LIVE and OWN beat just now, DEAD a minute ago.
        connection.execute("""INSERT INTO ingest_workers (worker_name, heartbeat_time)
                              VALUES (%s, now()), (%s, now()), (%s, now() - interval '1 minute')
                              ON CONFLICT (worker_name) DO UPDATE SET heartbeat_time = EXCLUDED.heartbeat_time""",
                           (LIVE, OWN, DEAD))
        yield connection


def _job(conn: psycopg.Connection[Any], *, state: str = "RUNNING", claimed_by: str = "",
         silent_for: str = "0 seconds", range_claimed_by: str | None = None) -> uuid.UUID:
    job_id = uuid.uuid4()
    conn.execute(
        """INSERT INTO ingest_jobs (job_id, book_id, state, title, filename, content_sha256, size_bytes,
               storage_key, created_by, claimed_by, heartbeat_time)
           VALUES (%s, %s, %s, 'orphan?', 'o.pdf', %s, 1, 'uploads/none.pdf', 'test', %s, now() - %s::interval)""",
        (job_id, uuid.uuid4(), state, uuid.uuid4().hex * 2, claimed_by, silent_for),
    )
    if range_claimed_by is not None:
        conn.execute("INSERT INTO ingest_job_ranges (job_id, first_page, last_page, claimed_by) VALUES (%s, 1, 9, %s)",
                     (job_id, range_claimed_by))
    return job_id


def _recover(conn: psycopg.Connection[Any], own: str | None = None) -> list[uuid.UUID]:
    return repository.recover_orphans(conn, own=own, dead_after=DEAD_AFTER, stale_after=STALE_AFTER)


@pytest.mark.parametrize(("job", "own", "recovered"), [
    pytest.param({"claimed_by": LIVE}, None, False, id="claimed-by-a-live-worker"),
    pytest.param({"claimed_by": DEAD}, None, True, id="claimed-by-a-worker-that-stopped-beating"),
    pytest.param({"claimed_by": "worker-replaced@old-host"}, None, True, id="claimed-by-an-unknown-worker"),
    pytest.param({"claimed_by": OWN}, OWN, True, id="claimed-by-my-previous-incarnation"),
    pytest.param({"claimed_by": LIVE, "range_claimed_by": DEAD}, None, True, id="a-range-claimed-by-a-dead-worker"),
    pytest.param({"claimed_by": LIVE, "range_claimed_by": LIVE}, None, False, id="a-range-claimed-by-a-live-worker"),
    pytest.param({"claimed_by": LIVE, "silent_for": "10 minutes"}, None, True, id="silent-for-too-long"),
    pytest.param({"state": "QUEUED"}, None, False, id="queued-and-unclaimed"),
    pytest.param({"state": "SUCCEEDED", "claimed_by": DEAD}, None, False, id="ended"),
])
def test_recovery_dispatches_jobs_that_lost_their_worker(conn: psycopg.Connection[Any], job: dict[str, str],
                                                          own: str | None, recovered: bool) -> None:
    job_id = _job(conn, **job)
    assert (job_id in _recover(conn, own)) is recovered
    due, claimed_by = conn.execute("SELECT dispatch_after IS NOT NULL, claimed_by FROM ingest_jobs WHERE job_id = %s",
                                   (job_id,)).fetchone() or (None, None)
    assert due is recovered
    if recovered:
        # Its dead claims are cleared and it is due: the next round does not dispatch it twice.
        assert claimed_by in ("", LIVE)
        assert conn.execute("SELECT count(*) FROM ingest_job_ranges WHERE job_id = %s AND claimed_by IN (%s, %s, %s)",
                            (job_id, DEAD, OWN, "worker-replaced@old-host")).fetchone() == (0,)
        assert job_id not in _recover(conn, own)


def test_a_restarted_workers_first_recovery_waits_for_a_locked_job(stack: Any) -> None:
    """A worker restarted under its old name takes back its claims in its first round only, while its
    new tasks may already lock the job's row: that round must wait for the lock, not skip the job."""
    worker = f"worker-restarted-{uuid.uuid4().hex[:8]}@host"
    conninfo = stack.settings.content_conninfo()
    with psycopg.connect(conninfo, autocommit=True) as setup:
        # Alive (it beat just now), so only its own first recovery may take the job back.
        setup.execute("INSERT INTO ingest_workers (worker_name) VALUES (%s)", (worker,))
        job_id = _job(setup, claimed_by=worker)
    try:
        with psycopg.connect(conninfo) as holder:
            holder.execute("SELECT 1 FROM ingest_jobs WHERE job_id = %s FOR UPDATE", (job_id,))  # a task's lock
            recovered: list[list[uuid.UUID]] = []

            def first_round() -> None:
                with psycopg.connect(conninfo) as conn, conn.transaction():
                    recovered.append(_recover(conn, own=worker))

            recovery = threading.Thread(target=first_round)
            recovery.start()
            with psycopg.connect(conninfo, autocommit=True) as observer:
                wait_for(lambda: observer.execute(
                    """SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'
                       AND query LIKE '%%FOR UPDATE OF j%%'""").fetchone() != (0,),
                    "the recovery to wait for the job's lock", timeout=30)
            holder.commit()
            recovery.join(30)
        assert recovered == [[job_id]]
    finally:
        with psycopg.connect(conninfo, autocommit=True) as cleanup:
            cleanup.execute("UPDATE ingest_jobs SET state = 'FAILED', dispatch_after = NULL WHERE job_id = %s",
                            (job_id,))
            cleanup.execute("DELETE FROM ingest_workers WHERE worker_name = %s", (worker,))
