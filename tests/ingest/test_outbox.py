"""Which in-flight jobs the outbox relay dispatches again (ingest_svc.repository.recover_orphans).

Each case runs in a transaction that is rolled back, so the relays of the running stack (which
recover every few seconds) never see its rows: the answer is the function's alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from ingest_svc import repository

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
