"""No orphaned files (issue 13 item 9): the storage sweeper (every second in test stacks, default
retention and grace) removes what nobody needs and never what a job in flight refers to."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg

from devstack import Stack
from teaching.content.v1 import content_service_pb2 as cpb
from teaching.content.v1 import content_service_pb2_grpc
from teaching.ingest.v1 import ingest_service_pb2 as pb
from teaching.ingest.v1 import ingest_service_pb2_grpc
from tests.ingest.helpers import HeldJob, unique_copy, upload, wait_for, wait_terminal

Auth = Callable[..., list[tuple[str, str]]]
TWO_DAYS_AGO = time.time() - 2 * 24 * 3600  # past the day of retention and the hour of grace


def _left(path: Path, when: float | None) -> Path:
    """A file as a crashed upload would leave it, last written at `when` (now when None)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"%PDF-1.4 left behind\n")
    if when is not None:
        os.utime(path, (when, when))
    return path


def test_the_sweeper_removes_what_nobody_needs_and_never_a_live_jobs_file(
    stack: Stack, ingest_stub: ingest_service_pb2_grpc.IngestServiceStub,
    content_stub: content_service_pb2_grpc.ContentServiceStub, auth: Auth, corpus: Path,
) -> None:
    admin = auth(f"sweep-admin-{uuid.uuid4().hex[:8]}", "admin")
    root = Path(stack.settings.storage_url.removeprefix("file://"))
    # A job that ended two days ago: its file is past the retention.
    uploaded = upload(ingest_stub, admin, unique_copy((corpus / "text.pdf").read_bytes()), "Ended")
    ended = wait_terminal(ingest_stub, admin, uploaded.job.job_id)
    assert ended.state == pb.INGEST_JOB_STATE_SUCCEEDED
    ended_file = root / f"uploads/{ended.job_id}.pdf"
    assert ended_file.exists()
    with psycopg.connect(stack.settings.content_conninfo(), autocommit=True) as conn:
        conn.execute("UPDATE ingest_jobs SET end_time = now() - interval '2 days' WHERE job_id = %s", (ended.job_id,))

    removable = [
        _left(root / f".tmp/{uuid.uuid4().hex}.part", TWO_DAYS_AGO),  # a partial upload of a killed call
        _left(root / f"uploads/{uuid.uuid4()}.pdf", TWO_DAYS_AGO),  # stored, but its job was never recorded
        ended_file,
    ]
    kept = [
        _left(root / f".tmp/{uuid.uuid4().hex}.part", None),  # an upload streaming now
        _left(root / f"uploads/{uuid.uuid4()}.pdf", None),  # stored a moment ago: its job is being recorded
        _left(root / "uploads/notes.txt", TWO_DAYS_AGO),  # not a name of ours: left alone
    ]
    data = unique_copy((corpus / "multipage.pdf").read_bytes())
    try:
        with HeldJob(stack, data) as hold:
            live = upload(ingest_stub, admin, data, "In flight").job
            hold.wait_until_held()
            live_file = root / f"uploads/{live.job_id}.pdf"
            os.utime(live_file, (TWO_DAYS_AGO, TWO_DAYS_AGO))  # old, but its job runs
            wait_for(lambda: not any(path.exists() for path in removable), "the sweeper to remove the orphans",
                     timeout=60)
            assert all(path.exists() for path in kept)
            assert live_file.exists()
        assert wait_terminal(ingest_stub, admin, live.job_id).state == pb.INGEST_JOB_STATE_SUCCEEDED
    finally:
        for path in kept:
            path.unlink(missing_ok=True)
    # The ended job's book is untouched; the job records when its file went.
    book = content_stub.GetBook(cpb.GetBookRequest(book_id=ended.book_id), metadata=admin).book
    assert book.book_id == ended.book_id
    with psycopg.connect(stack.settings.content_conninfo(), autocommit=True) as conn:
        removed = conn.execute("SELECT file_removed_time IS NOT NULL FROM ingest_jobs WHERE job_id = %s",
                               (ended.job_id,)).fetchone()
    assert removed == (True,)
