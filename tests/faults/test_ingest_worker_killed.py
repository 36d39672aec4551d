"""Disruptive: the Celery worker SIGKILLed mid-book; the restarted worker finishes the book exactly once.

Deterministic: the job is held after its first page ranges (tests/ingest/helpers.py, HeldJob), so
the kill always lands mid-book, with some ranges done and the rest not started.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg

from devstack import Stack
from teaching.ingest.v1 import ingest_service_pb2 as pb
from teaching.ingest.v1 import ingest_service_pb2_grpc
from tests.ingest.helpers import HeldJob, unique_copy, upload, wait_terminal


def test_worker_killed_mid_book_finishes_exactly_once(
    stack: Stack, ingest_stub: ingest_service_pb2_grpc.IngestServiceStub, auth: Callable[..., list[tuple[str, str]]],
    corpus: Path,
) -> None:
    admin = auth(f"fault-admin-{uuid.uuid4().hex[:8]}", "admin")
    thinkpython = (corpus / "thinkpython2.pdf").read_bytes()
    clean = wait_terminal(ingest_stub, admin, upload(ingest_stub, admin, unique_copy(thinkpython), "clean").job.job_id)
    assert clean.state == pb.INGEST_JOB_STATE_SUCCEEDED, clean.error_message

    data = unique_copy(thinkpython)
    with HeldJob(stack, data) as hold:
        response = upload(ingest_stub, admin, data, "Think Python (crash)")
        hold.wait_until_held()
        stack.kill_process("worker", signal.SIGKILL)
        killed_at = ingest_stub.GetIngestJob(pb.GetIngestJobRequest(job_id=response.job.job_id), metadata=admin).job
        assert killed_at.state == pb.INGEST_JOB_STATE_RUNNING
        assert 0 < killed_at.pages_done < killed_at.pages_total
    # Released: the restarted worker re-enqueues the job its dead incarnation held.
    stack.start_process("worker")
    job = wait_terminal(ingest_stub, admin, response.job.job_id)
    assert job.state == pb.INGEST_JOB_STATE_SUCCEEDED, job.error_message
    assert job.atoms_written == clean.atoms_written
    with psycopg.connect(stack.settings.content_conninfo(), autocommit=True) as conn:
        books = conn.execute("SELECT book_id, atom_count FROM books WHERE content_sha256 = %s",
                             (job.content_sha256,)).fetchall()
        assert books == [(uuid.UUID(job.book_id), clean.atoms_written)]
        atoms = conn.execute("SELECT count(*), count(DISTINCT ordinal) FROM content_atoms JOIN books USING (book_no) "
                             "WHERE book_id = %s", (job.book_id,)).fetchone()
    assert atoms == (clean.atoms_written, clean.atoms_written)
