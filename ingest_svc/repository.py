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
) -> Job:
    created = _jobs(conn).execute(
        f"""INSERT INTO ingest_jobs (job_id, book_id, state, title, filename, authors, subject,
                grade_level, content_sha256, size_bytes, storage_key, created_by)
            VALUES (%(job_id)s, %(book_id)s, 'QUEUED', %(title)s, %(filename)s, %(authors)s,
                %(subject)s, %(grade_level)s, %(content_sha256)s, %(size_bytes)s, %(storage_key)s,
                %(created_by)s)
            RETURNING {_JOB_COLUMNS}""",
        {
            "job_id": job_id, "book_id": book_id, "title": metadata.title, "filename": metadata.filename,
            "authors": metadata.authors, "subject": metadata.subject, "grade_level": metadata.grade_level,
            "content_sha256": content_sha256, "size_bytes": size_bytes, "storage_key": storage_key,
            "created_by": created_by,
        },
    ).fetchone()
    assert created is not None
    return created


# --- reading -----------------------------------------------------------------------------------


def get_job(conn: Conn, job_id: uuid.UUID, *, for_update: bool = False) -> Job | None:
    lock = " FOR UPDATE" if for_update else ""
    return _jobs(conn).execute(f"SELECT {_JOB_COLUMNS} FROM ingest_jobs WHERE job_id = %s{lock}", (job_id,)).fetchone()


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
    return conn.cursor(row_factory=scalar_row).execute(
        """SELECT j.job_id FROM ingest_jobs j
           WHERE j.state IN ('QUEUED', 'RUNNING')
             AND (j.heartbeat_time < now() - make_interval(secs => %(stale)s)
                  OR (j.state = 'RUNNING' AND j.claimed_by = %(worker)s)
                  OR EXISTS (SELECT 1 FROM ingest_job_ranges r
                             WHERE r.job_id = j.job_id AND NOT r.done AND r.claimed_by = %(worker)s))
           ORDER BY j.create_time""",
        {"stale": stale_after_seconds, "worker": worker},
    ).fetchall()
