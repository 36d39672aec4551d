"""Disruptive: the Celery worker SIGKILLed mid-book; the restarted worker finishes the book exactly once.

Deterministic: the job is held after its first page ranges (tests/ingest/helpers.py, HeldJob), so
the kill always lands mid-book, with some ranges done and the rest not started.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Callable
from pathlib import Path

from devstack import Stack
from teaching.ingest.v1 import ingest_service_pb2 as pb
from teaching.ingest.v1 import ingest_service_pb2_grpc
from tests.ingest.helpers import HeldJob, assert_loaded_once, unique_copy, upload, wait_terminal


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
    assert_loaded_once(stack, wait_terminal(ingest_stub, admin, response.job.job_id), clean.atoms_written)
