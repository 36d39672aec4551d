"""All SQL of IngestService: ingest_jobs and ingest_job_ranges in db_content (psycopg 3; rows mapped
by column name). Content's own tables are never named here: books go through content_svc.writer."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import pydantic
from psycopg import Connection, Cursor
from psycopg.rows import class_row, kwargs_row, scalar_row
from psycopg.types.json import Jsonb

from content_svc.contract import ParsedNode
from ingest_svc.rules.jobs import FailureReason, Job, JobState, Stage, UploadMetadata
from ingest_svc.rules.passages import AtomDraft

Conn = Connection[Any]

_JOB_COLUMNS = """job_id, book_id, state, stage, title, filename, authors, subject, grade_level,
    content_sha256, size_bytes, storage_key, pages_total, pages_done, atoms_written, failure_reason,
    error_message, created_by, create_time, update_time, end_time"""

# JSON kept while a job runs: its plan (the structure nodes) and each range's passages and reports.
_PLAN = pydantic.TypeAdapter(list[ParsedNode])
_ATOMS = pydantic.TypeAdapter(list[AtomDraft])
_RUNS_ONTO = pydantic.TypeAdapter(dict[int, int])


def _job(*, state: str, stage: str, failure_reason: str, **columns: Any) -> Job:
    return Job(state=JobState(state), stage=Stage(stage), failure_reason=FailureReason(failure_reason), **columns)


def _jobs(conn: Conn) -> Cursor[Job]:
    return conn.cursor(row_factory=kwargs_row(_job))


# --- uploads -----------------------------------------------------------------------------------


def lock_content_hash(conn: Conn, content_sha256: str) -> None:
    """Serialise uploads of the same bytes until the end of the transaction."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 5))", (content_sha256,))


def find_job_by_book(conn: Conn, book_id: uuid.UUID) -> Job | None:
    return _jobs(conn).execute(f"SELECT {_JOB_COLUMNS} FROM ingest_jobs WHERE book_id = %s", (book_id,)).fetchone()


def find_in_flight_job_by_hash(conn: Conn, content_sha256: str) -> Job | None:
    return _jobs(conn).execute(
        f"""SELECT {_JOB_COLUMNS} FROM ingest_jobs
            WHERE content_sha256 = %s AND state IN ('QUEUED', 'RUNNING')""",
        (content_sha256,),
    ).fetchone()


def insert_job(
    conn: Conn,
    *,
    job_id: uuid.UUID,
    book_id: uuid.UUID,
    metadata: UploadMetadata,
    content_sha256: str,
    size_bytes: int,
    storage_key: str,
    created_by: str,
    trace: dict[str, str],
) -> Job:
    created = _jobs(conn).execute(
        # dispatch_after: the outbox entry, committed with the job (the relay publishes it).
        f"""INSERT INTO ingest_jobs (job_id, book_id, state, title, filename, authors, subject,
                grade_level, content_sha256, size_bytes, storage_key, created_by, dispatch_after,
                dispatch_trace)
            VALUES (%(job_id)s, %(book_id)s, 'QUEUED', %(title)s, %(filename)s, %(authors)s,
                %(subject)s, %(grade_level)s, %(content_sha256)s, %(size_bytes)s, %(storage_key)s,
                %(created_by)s, now(), %(trace)s)
            RETURNING {_JOB_COLUMNS}""",
        {
            "job_id": job_id, "book_id": book_id, "title": metadata.title, "filename": metadata.filename,
            "authors": metadata.authors, "subject": metadata.subject, "grade_level": metadata.grade_level,
            "content_sha256": content_sha256, "size_bytes": size_bytes, "storage_key": storage_key,
            "created_by": created_by, "trace": Jsonb(trace),
        },
    ).fetchone()
    assert created is not None
    return created


# --- reading -----------------------------------------------------------------------------------


def get_job(conn: Conn, job_id: uuid.UUID, *, for_update: bool = False) -> Job | None:
    lock = " FOR UPDATE" if for_update else ""
    return _jobs(conn).execute(f"SELECT {_JOB_COLUMNS} FROM ingest_jobs WHERE job_id = %s{lock}", (job_id,)).fetchone()


def get_jobs(conn: Conn, job_ids: Sequence[uuid.UUID]) -> list[Job]:
    return _jobs(conn).execute(f"SELECT {_JOB_COLUMNS} FROM ingest_jobs WHERE job_id = ANY(%s)",
                               (list(job_ids),)).fetchall()


def get_state(conn: Conn, job_id: uuid.UUID) -> JobState | None:
    state = conn.cursor(row_factory=scalar_row).execute(
        "SELECT state FROM ingest_jobs WHERE job_id = %s", (job_id,)
    ).fetchone()
    return JobState(state) if state is not None else None


def list_jobs(
    conn: Conn,
    *,
    state: JobState | None,
    after: tuple[dt.datetime, uuid.UUID] | None,
    limit: int,
) -> list[Job]:
    """Newest first, keyset-paginated on (create_time, job_id)."""
    conditions = []
    params: dict[str, Any] = {"limit": limit}
    if state is not None:
        conditions.append("state = %(state)s")
        params["state"] = state.value
    if after is not None:
        conditions.append("(create_time, job_id) < (%(after_time)s, %(after_id)s)")
        params["after_time"], params["after_id"] = after
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    return _jobs(conn).execute(
        f"""SELECT {_JOB_COLUMNS} FROM ingest_jobs {where}
            ORDER BY create_time DESC, job_id DESC LIMIT %(limit)s""",
        params,
    ).fetchall()


def count_jobs_by_state(conn: Conn) -> dict[JobState, int]:
    """How many jobs are in each state (every state present, zero when none): the worker's metrics."""
    rows = conn.execute("SELECT state, count(*) FROM ingest_jobs GROUP BY state").fetchall()
    return {state: 0 for state in JobState} | {JobState(state): count for state, count in rows}


# --- pipeline progress -------------------------------------------------------------------------


def get_plan(conn: Conn, job_id: uuid.UUID) -> list[ParsedNode] | None:
    """The job's structure nodes, once prepare planned them."""
    plan = conn.cursor(row_factory=scalar_row).execute(
        "SELECT plan FROM ingest_jobs WHERE job_id = %s", (job_id,)
    ).fetchone()
    return _PLAN.validate_python(plan["nodes"]) if plan is not None else None


def start_job(conn: Conn, job_id: uuid.UUID, stage: Stage, worker: str) -> None:
    """QUEUED -> RUNNING (or a RUNNING job claimed again by a recovering worker)."""
    conn.execute(
        """UPDATE ingest_jobs SET state = 'RUNNING', stage = %s, claimed_by = %s,
               heartbeat_time = now(), update_time = now()
           WHERE job_id = %s AND state IN ('QUEUED', 'RUNNING')""",
        (stage.value, worker, job_id),
    )


def save_plan(
    conn: Conn, job_id: uuid.UUID, nodes: Sequence[ParsedNode], pages_total: int, ranges: Sequence[tuple[int, int]]
) -> None:
    conn.execute(
        """UPDATE ingest_jobs SET plan = %s, pages_total = %s, heartbeat_time = now(), update_time = now()
           WHERE job_id = %s AND plan IS NULL""",
        (Jsonb({"nodes": _PLAN.dump_python(list(nodes), mode="json")}), pages_total, job_id),
    )
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO ingest_job_ranges (job_id, first_page, last_page) VALUES (%s, %s, %s)
               ON CONFLICT DO NOTHING""",
            [(job_id, first, last) for first, last in ranges],
        )


class PageRange(NamedTuple):
    first_page: int
    last_page: int


def pending_ranges(conn: Conn, job_id: uuid.UUID) -> list[PageRange]:
    return conn.cursor(row_factory=class_row(PageRange)).execute(
        """SELECT first_page, last_page FROM ingest_job_ranges WHERE job_id = %s AND NOT done
           ORDER BY first_page""",
        (job_id,),
    ).fetchall()


def all_ranges(conn: Conn, job_id: uuid.UUID) -> list[PageRange]:
    return conn.cursor(row_factory=class_row(PageRange)).execute(
        "SELECT first_page, last_page FROM ingest_job_ranges WHERE job_id = %s ORDER BY first_page",
        (job_id,),
    ).fetchall()


def claim_range(conn: Conn, job_id: uuid.UUID, first_page: int, worker: str, stage: Stage) -> bool:
    """Record who works on the range; False when it is already done.

    Like every writer of a job's ranges, it locks the job row first: CancelIngestJob locks the job,
    then its ranges, and the opposite order deadlocks with it.
    """
    conn.execute("SELECT 1 FROM ingest_jobs WHERE job_id = %s FOR UPDATE", (job_id,))
    conn.execute(
        """UPDATE ingest_jobs SET stage = %s, heartbeat_time = now(), update_time = now()
           WHERE job_id = %s AND state = 'RUNNING' AND stage IN ('UNSPECIFIED', 'PARSING', 'EMBEDDING')""",
        (stage.value, job_id),
    )
    cur = conn.execute(
        """UPDATE ingest_job_ranges SET claimed_by = %s WHERE job_id = %s AND first_page = %s AND NOT done""",
        (worker, job_id, first_page),
    )
    return cur.rowcount == 1


def heartbeat(conn: Conn, job_id: uuid.UUID) -> JobState | None:
    state = conn.cursor(row_factory=scalar_row).execute(
        "UPDATE ingest_jobs SET heartbeat_time = now() WHERE job_id = %s RETURNING state", (job_id,)
    ).fetchone()
    return JobState(state) if state is not None else None


def complete_range(
    conn: Conn,
    job_id: uuid.UUID,
    first_page: int,
    atoms: list[AtomDraft],
    embeddings: bytes,
    runs_onto: dict[int, int],
) -> int:
    """Store a range's result once (a repeated run changes nothing); the number of ranges still to do.

    Locks the job row so exactly one range sees the count drop to zero.
    """
    conn.execute("SELECT 1 FROM ingest_jobs WHERE job_id = %s FOR UPDATE", (job_id,))
    pages = conn.cursor(row_factory=scalar_row).execute(
        """UPDATE ingest_job_ranges SET done = true, atoms = %s, embeddings = %s, runs_onto = %s
           WHERE job_id = %s AND first_page = %s AND NOT done
           RETURNING last_page - first_page + 1""",
        (Jsonb(_ATOMS.dump_python(atoms, mode="json")), embeddings,
         Jsonb(_RUNS_ONTO.dump_python(runs_onto, mode="json")), job_id, first_page),
    ).fetchone()
    if pages is not None:
        conn.execute(
            """UPDATE ingest_jobs SET pages_done = pages_done + %s, atoms_written = atoms_written + %s,
                   heartbeat_time = now(), update_time = now()
               WHERE job_id = %s""",
            (pages, len(atoms), job_id),
        )
    remaining: int | None = conn.cursor(row_factory=scalar_row).execute(
        "SELECT count(*) FROM ingest_job_ranges WHERE job_id = %s AND NOT done", (job_id,)
    ).fetchone()
    assert remaining is not None
    return remaining


@dataclass(frozen=True)
class RangeResult:
    atoms: list[AtomDraft]
    embeddings: bytes
    runs_onto: dict[int, int]


def _range_result(*, atoms: Any, embeddings: bytes, runs_onto: Any) -> RangeResult:
    return RangeResult(_ATOMS.validate_python(atoms), bytes(embeddings), _RUNS_ONTO.validate_python(runs_onto or {}))


def range_results(conn: Conn, job_id: uuid.UUID) -> list[RangeResult]:
    return conn.cursor(row_factory=kwargs_row(_range_result)).execute(
        """SELECT atoms, embeddings, runs_onto FROM ingest_job_ranges WHERE job_id = %s AND done
           ORDER BY first_page""",
        (job_id,),
    ).fetchall()


def set_stage(conn: Conn, job_id: uuid.UUID, stage: Stage, worker: str) -> None:
    conn.execute(
        """UPDATE ingest_jobs SET stage = %s, claimed_by = %s, heartbeat_time = now(), update_time = now()
           WHERE job_id = %s AND state = 'RUNNING'""",
        (stage.value, worker, job_id),
    )


def mark_succeeded(conn: Conn, job_id: uuid.UUID, atoms_written: int) -> None:
    conn.execute(
        """UPDATE ingest_jobs SET state = 'SUCCEEDED', stage = 'DONE', atoms_written = %s,
               pages_done = pages_total, update_time = now(), end_time = now(), dispatch_after = NULL
           WHERE job_id = %s AND state = 'RUNNING'""",
        (atoms_written, job_id),
    )
    _drop_ranges(conn, job_id)


def mark_failed(conn: Conn, job_id: uuid.UUID, reason: FailureReason, message: str) -> bool:
    cur = conn.execute(
        """UPDATE ingest_jobs SET state = 'FAILED', failure_reason = %s, error_message = %s,
               update_time = now(), end_time = now(), dispatch_after = NULL
           WHERE job_id = %s AND state IN ('QUEUED', 'RUNNING')""",
        (reason.value, message, job_id),
    )
    _drop_ranges(conn, job_id)
    return cur.rowcount == 1


def mark_cancelled(conn: Conn, job_id: uuid.UUID) -> None:
    conn.execute(
        """UPDATE ingest_jobs SET state = 'CANCELLED', update_time = now(), end_time = now(),
               dispatch_after = NULL
           WHERE job_id = %s AND state IN ('QUEUED', 'RUNNING')""",
        (job_id,),
    )
    _drop_ranges(conn, job_id)


def _drop_ranges(conn: Conn, job_id: uuid.UUID) -> None:
    """Intermediate results are only needed while the job runs."""
    conn.execute(
        "UPDATE ingest_job_ranges SET atoms = NULL, embeddings = NULL, runs_onto = NULL WHERE job_id = %s",
        (job_id,),
    )


# --- the outbox and recovery ----------------------------------------------------------------


class DueDispatch(NamedTuple):
    job_id: uuid.UUID
    trace: dict[str, str]


def claim_due_dispatches(conn: Conn, limit: int) -> list[DueDispatch]:
    """In-flight jobs whose prepare message is due, locked until the transaction ends (other relays
    skip them; a relay that dies mid-publish releases them with its connection)."""
    return conn.cursor(row_factory=class_row(DueDispatch)).execute(
        """SELECT job_id, coalesce(dispatch_trace, '{}') AS trace FROM ingest_jobs
           WHERE dispatch_after <= now() AND state IN ('QUEUED', 'RUNNING')
           ORDER BY dispatch_after LIMIT %s
           FOR UPDATE SKIP LOCKED""",
        (limit,),
    ).fetchall()


def mark_dispatched(conn: Conn, job_id: uuid.UUID) -> None:
    conn.execute("UPDATE ingest_jobs SET dispatch_after = NULL WHERE job_id = %s", (job_id,))


def postpone_dispatch(conn: Conn, job_ids: Sequence[uuid.UUID], seconds: float) -> None:
    """Due again `seconds` from now (the broker refused them)."""
    conn.execute(
        "UPDATE ingest_jobs SET dispatch_after = now() + make_interval(secs => %s) WHERE job_id = ANY(%s)",
        (seconds, list(job_ids)),
    )


def request_dispatch(conn: Conn, job_id: uuid.UUID, trace: dict[str, str]) -> None:
    """Ask the relay to publish the job's prepare message (again), unless it ended; `trace` is the
    asker's (kept: the job's own when the asker has none)."""
    conn.execute(  # LEAST ignores NULL: due now, or earlier if it already was
        """UPDATE ingest_jobs SET dispatch_after = LEAST(dispatch_after, now()),
               dispatch_trace = CASE WHEN %s THEN %s ELSE dispatch_trace END
           WHERE job_id = %s AND state IN ('QUEUED', 'RUNNING')""",
        (bool(trace), Jsonb(trace), job_id),
    )


def worker_beat(conn: Conn, worker: str) -> None:
    conn.execute(
        """INSERT INTO ingest_workers (worker_name) VALUES (%s)
           ON CONFLICT (worker_name) DO UPDATE SET heartbeat_time = now()""",
        (worker,),
    )


def worker_gone(conn: Conn, worker: str) -> None:
    conn.execute("DELETE FROM ingest_workers WHERE worker_name = %s", (worker,))


# A claim is dead when its worker is this process' own previous incarnation (`own`, at a worker's
# start) or has not beaten for `dead_after` seconds (killed, or replaced under another name).
_DEAD_CLAIM = """(%(claim)s <> '' AND (%(claim)s = %%(own)s OR %(claim)s NOT IN (
    SELECT worker_name FROM ingest_workers WHERE heartbeat_time > now() - make_interval(secs => %%(dead_after)s))))"""


def recover_orphans(conn: Conn, *, own: str | None, dead_after: float, stale_after: float) -> list[uuid.UUID]:
    """Queue a new dispatch of every in-flight job that lost its worker or was silent for `stale_after`
    seconds; their dead claims are cleared, so each is recovered once. Run in a transaction.

    It waits for a job's row lock rather than skipping the job: a worker restarted under its old name
    recovers its claims only in its first round, while its new tasks may already hold the row.
    """
    params = {"own": own, "dead_after": dead_after, "stale": stale_after}
    job_dead, range_dead = _DEAD_CLAIM % {"claim": "j.claimed_by"}, _DEAD_CLAIM % {"claim": "r.claimed_by"}
    # Jobs first, then their ranges: the order every writer of a job's ranges locks them in.
    orphans: list[uuid.UUID] = conn.cursor(row_factory=scalar_row).execute(
        f"""SELECT j.job_id FROM ingest_jobs j
            WHERE j.state IN ('QUEUED', 'RUNNING') AND j.dispatch_after IS NULL
              AND (j.heartbeat_time < now() - make_interval(secs => %(stale)s)
                   OR (j.state = 'RUNNING' AND {job_dead})
                   OR EXISTS (SELECT 1 FROM ingest_job_ranges r
                              WHERE r.job_id = j.job_id AND NOT r.done AND {range_dead}))
            ORDER BY j.create_time
            FOR UPDATE OF j""",
        params,
    ).fetchall()
    if orphans:
        conn.execute(
            f"""UPDATE ingest_job_ranges r SET claimed_by = ''
                WHERE r.job_id = ANY(%(ids)s) AND NOT r.done AND {range_dead}""",
            {**params, "ids": orphans},
        )
        conn.execute(
            f"""UPDATE ingest_jobs j SET dispatch_after = now(), heartbeat_time = now(),
                    claimed_by = CASE WHEN {job_dead} THEN '' ELSE j.claimed_by END
                WHERE j.job_id = ANY(%(ids)s)""",
            {**params, "ids": orphans},
        )
    return orphans


# --- stored files ------------------------------------------------------------------------------


def try_sweep_lock(conn: Conn) -> bool:
    """One sweeper at a time among the replicas (a session lock: release it with sweep_unlock)."""
    locked: bool | None = conn.cursor(row_factory=scalar_row).execute(
        "SELECT pg_try_advisory_lock(hashtextextended('ingest-storage-sweep', 0))"
    ).fetchone()
    return bool(locked)


def sweep_unlock(conn: Conn) -> None:
    conn.execute("SELECT pg_advisory_unlock(hashtextextended('ingest-storage-sweep', 0))")


class EndedFile(NamedTuple):
    job_id: uuid.UUID
    storage_key: str


def ended_job_files(conn: Conn, retention_seconds: float, limit: int) -> list[EndedFile]:
    """Stored files of jobs that ended more than `retention_seconds` ago and are still there."""
    return conn.cursor(row_factory=class_row(EndedFile)).execute(
        """SELECT job_id, storage_key FROM ingest_jobs
           WHERE end_time < now() - make_interval(secs => %s) AND file_removed_time IS NULL
             AND state IN ('SUCCEEDED', 'FAILED', 'CANCELLED')
           ORDER BY end_time LIMIT %s""",
        (retention_seconds, limit),
    ).fetchall()


def mark_files_removed(conn: Conn, job_ids: Sequence[uuid.UUID]) -> None:
    conn.execute("UPDATE ingest_jobs SET file_removed_time = now() WHERE job_id = ANY(%s)", (list(job_ids),))


def existing_jobs(conn: Conn, job_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    return set(conn.cursor(row_factory=scalar_row).execute(
        "SELECT job_id FROM ingest_jobs WHERE job_id = ANY(%s)", (list(job_ids),)
    ).fetchall())
