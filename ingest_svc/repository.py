"""All SQL of IngestService (ingest_jobs and ingest_job_ranges in db_content), psycopg 3."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from ingest_svc.domain.jobs import FailureReason, Job, JobState, Stage

Conn = Connection[Any]

_JOB_COLUMNS = """job_id, book_id, state, stage, title, filename, authors, subject, grade_level,
    content_sha256, size_bytes, storage_key, pages_total, pages_done, atoms_written, failure_reason,
    error_message, created_by, create_time, update_time, end_time"""


def _job(row: dict[str, Any]) -> Job:
    return Job(
        job_id=row["job_id"],
        book_id=row["book_id"],
        state=JobState(row["state"]),
        stage=Stage(row["stage"]),
        title=row["title"],
        filename=row["filename"],
        authors=list(row["authors"]),
        subject=row["subject"],
        grade_level=row["grade_level"],
        content_sha256=row["content_sha256"],
        size_bytes=row["size_bytes"],
        storage_key=row["storage_key"],
        pages_total=row["pages_total"],
        pages_done=row["pages_done"],
        atoms_written=row["atoms_written"],
        failure_reason=FailureReason(row["failure_reason"]),
        error_message=row["error_message"],
        created_by=row["created_by"],
        create_time=row["create_time"],
        update_time=row["update_time"],
        end_time=row["end_time"],
    )


def _one(conn: Conn, sql: str, params: Sequence[Any] | dict[str, Any]) -> Job | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)  # type: ignore[arg-type]
        row = cur.fetchone()
    return _job(row) if row else None


# --- uploads -----------------------------------------------------------------------------------


def lock_content_hash(conn: Conn, content_sha256: str) -> None:
    """Serialise uploads of the same bytes until the end of the transaction."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 5))", (content_sha256,))


def find_ready_book_by_hash(conn: Conn, content_sha256: str) -> uuid.UUID | None:
    row = conn.execute(
        "SELECT book_id FROM books WHERE content_sha256 = %s AND status = 'ready' LIMIT 1",
        (content_sha256,),
    ).fetchone()
    return row[0] if row else None


def find_job_by_book(conn: Conn, book_id: uuid.UUID) -> Job | None:
    return _one(
        conn,
        f"SELECT {_JOB_COLUMNS} FROM ingest_jobs WHERE book_id = %s",
        (book_id,),
    )


def find_in_flight_job_by_hash(conn: Conn, content_sha256: str) -> Job | None:
    return _one(
        conn,
        f"""SELECT {_JOB_COLUMNS} FROM ingest_jobs
            WHERE content_sha256 = %s AND state IN ('QUEUED', 'RUNNING')""",
        (content_sha256,),
    )


@dataclass(frozen=True)
class NewJob:
    job_id: uuid.UUID
    book_id: uuid.UUID
    title: str
    filename: str
    authors: list[str]
    subject: str
    grade_level: str
    content_sha256: str
    size_bytes: int
    storage_key: str
    created_by: str


def insert_job(conn: Conn, job: NewJob) -> Job:
    created = _one(
        conn,
        f"""INSERT INTO ingest_jobs (job_id, book_id, state, title, filename, authors, subject,
                grade_level, content_sha256, size_bytes, storage_key, created_by)
            VALUES (%(job_id)s, %(book_id)s, 'QUEUED', %(title)s, %(filename)s, %(authors)s,
                %(subject)s, %(grade_level)s, %(content_sha256)s, %(size_bytes)s, %(storage_key)s,
                %(created_by)s)
            RETURNING {_JOB_COLUMNS}""",
        job.__dict__,
    )
    assert created is not None
    return created


# --- reading -----------------------------------------------------------------------------------


def get_job(conn: Conn, job_id: uuid.UUID, *, for_update: bool = False) -> Job | None:
    lock = " FOR UPDATE" if for_update else ""
    return _one(conn, f"SELECT {_JOB_COLUMNS} FROM ingest_jobs WHERE job_id = %s{lock}", (job_id,))


def get_state(conn: Conn, job_id: uuid.UUID) -> JobState | None:
    row = conn.execute("SELECT state FROM ingest_jobs WHERE job_id = %s", (job_id,)).fetchone()
    return JobState(row[0]) if row else None


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
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"""SELECT {_JOB_COLUMNS} FROM ingest_jobs {where}
                ORDER BY create_time DESC, job_id DESC LIMIT %(limit)s""",  # type: ignore[arg-type]
            params,
        )
        return [_job(row) for row in cur.fetchall()]


# --- pipeline progress -------------------------------------------------------------------------


def get_plan(conn: Conn, job_id: uuid.UUID) -> Any:
    row = conn.execute("SELECT plan FROM ingest_jobs WHERE job_id = %s", (job_id,)).fetchone()
    return row[0] if row else None


def start_job(conn: Conn, job_id: uuid.UUID, stage: Stage, worker: str) -> None:
    """QUEUED -> RUNNING (or a RUNNING job claimed again by a recovering worker)."""
    conn.execute(
        """UPDATE ingest_jobs SET state = 'RUNNING', stage = %s, claimed_by = %s,
               heartbeat_time = now(), update_time = now()
           WHERE job_id = %s AND state IN ('QUEUED', 'RUNNING')""",
        (stage.value, worker, job_id),
    )


def save_plan(
    conn: Conn, job_id: uuid.UUID, plan: Any, pages_total: int, ranges: Sequence[tuple[int, int]]
) -> None:
    conn.execute(
        """UPDATE ingest_jobs SET plan = %s, pages_total = %s, heartbeat_time = now(), update_time = now()
           WHERE job_id = %s AND plan IS NULL""",
        (Jsonb(plan), pages_total, job_id),
    )
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO ingest_job_ranges (job_id, first_page, last_page) VALUES (%s, %s, %s)
               ON CONFLICT DO NOTHING""",
            [(job_id, first, last) for first, last in ranges],
        )


def pending_ranges(conn: Conn, job_id: uuid.UUID) -> list[tuple[int, int]]:
    rows = conn.execute(
        """SELECT first_page, last_page FROM ingest_job_ranges WHERE job_id = %s AND NOT done
           ORDER BY first_page""",
        (job_id,),
    ).fetchall()
    return [(row[0], row[1]) for row in rows]


def all_ranges(conn: Conn, job_id: uuid.UUID) -> list[tuple[int, int]]:
    rows = conn.execute(
        "SELECT first_page, last_page FROM ingest_job_ranges WHERE job_id = %s ORDER BY first_page",
        (job_id,),
    ).fetchall()
    return [(row[0], row[1]) for row in rows]


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
    row = conn.execute(
        """UPDATE ingest_jobs SET heartbeat_time = now() WHERE job_id = %s RETURNING state""",
        (job_id,),
    ).fetchone()
    return JobState(row[0]) if row else None


def complete_range(
    conn: Conn,
    job_id: uuid.UUID,
    first_page: int,
    atoms: list[list[Any]],
    embeddings: bytes,
    runs_onto: dict[int, int],
) -> int:
    """Store a range's result once (a repeated run changes nothing); the number of ranges still to do.

    Locks the job row so exactly one range sees the count drop to zero.
    """
    conn.execute("SELECT 1 FROM ingest_jobs WHERE job_id = %s FOR UPDATE", (job_id,))
    cur = conn.execute(
        """UPDATE ingest_job_ranges SET done = true, atoms = %s, embeddings = %s, runs_onto = %s
           WHERE job_id = %s AND first_page = %s AND NOT done
           RETURNING last_page - first_page + 1""",
        (Jsonb(atoms), embeddings, Jsonb({str(page): key for page, key in runs_onto.items()}), job_id, first_page),
    )
    row = cur.fetchone()
    if row is not None:
        conn.execute(
            """UPDATE ingest_jobs SET pages_done = pages_done + %s, atoms_written = atoms_written + %s,
                   heartbeat_time = now(), update_time = now()
               WHERE job_id = %s""",
            (row[0], len(atoms), job_id),
        )
    remaining = conn.execute(
        "SELECT count(*) FROM ingest_job_ranges WHERE job_id = %s AND NOT done", (job_id,)
    ).fetchone()
    assert remaining is not None
    return int(remaining[0])


@dataclass(frozen=True)
class RangeResult:
    atoms: list[list[Any]]
    embeddings: bytes
    runs_onto: dict[int, int]


def range_results(conn: Conn, job_id: uuid.UUID) -> list[RangeResult]:
    rows = conn.execute(
        """SELECT atoms, embeddings, runs_onto FROM ingest_job_ranges WHERE job_id = %s AND done
           ORDER BY first_page""",
        (job_id,),
    ).fetchall()
    return [
        RangeResult(row[0], bytes(row[1]), {int(page): int(key) for page, key in (row[2] or {}).items()})
        for row in rows
    ]


def set_stage(conn: Conn, job_id: uuid.UUID, stage: Stage, worker: str) -> None:
    conn.execute(
        """UPDATE ingest_jobs SET stage = %s, claimed_by = %s, heartbeat_time = now(), update_time = now()
           WHERE job_id = %s AND state = 'RUNNING'""",
        (stage.value, worker, job_id),
    )


def mark_succeeded(conn: Conn, job_id: uuid.UUID, atoms_written: int) -> None:
    conn.execute(
        """UPDATE ingest_jobs SET state = 'SUCCEEDED', stage = 'DONE', atoms_written = %s,
               pages_done = pages_total, update_time = now(), end_time = now()
           WHERE job_id = %s AND state = 'RUNNING'""",
        (atoms_written, job_id),
    )
    _drop_ranges(conn, job_id)


def mark_failed(conn: Conn, job_id: uuid.UUID, reason: FailureReason, message: str) -> bool:
    cur = conn.execute(
        """UPDATE ingest_jobs SET state = 'FAILED', failure_reason = %s, error_message = %s,
               update_time = now(), end_time = now()
           WHERE job_id = %s AND state IN ('QUEUED', 'RUNNING')""",
        (reason.value, message, job_id),
    )
    _drop_ranges(conn, job_id)
    return cur.rowcount == 1


def mark_cancelled(conn: Conn, job_id: uuid.UUID) -> None:
    conn.execute(
        """UPDATE ingest_jobs SET state = 'CANCELLED', update_time = now(), end_time = now()
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


# --- recovery ----------------------------------------------------------------------------------


def orphaned_jobs(conn: Conn, worker: str | None, stale_after_seconds: float) -> list[uuid.UUID]:
    """In-flight jobs a dead incarnation of `worker` held (when given), or that nobody reported on for a while."""
    rows = conn.execute(
        """SELECT j.job_id FROM ingest_jobs j
           WHERE j.state IN ('QUEUED', 'RUNNING')
             AND (j.heartbeat_time < now() - make_interval(secs => %(stale)s)
                  OR (j.state = 'RUNNING' AND j.claimed_by = %(worker)s)
                  OR EXISTS (SELECT 1 FROM ingest_job_ranges r
                             WHERE r.job_id = j.job_id AND NOT r.done AND r.claimed_by = %(worker)s))
           ORDER BY j.create_time""",
        {"stale": stale_after_seconds, "worker": worker},
    ).fetchall()
    return [row[0] for row in rows]
