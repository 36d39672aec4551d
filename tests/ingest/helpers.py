"""Shared helpers of the ingest tests: streaming uploads, waiting for jobs, holding a job mid-book."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType

import psycopg

from devstack import Stack
from ingest_svc.holds import HoldPoints
from teaching.ingest.v1 import ingest_service_pb2 as pb
from teaching.ingest.v1 import ingest_service_pb2_grpc

CHUNK = 1024 * 1024
TERMINAL = {pb.INGEST_JOB_STATE_SUCCEEDED, pb.INGEST_JOB_STATE_FAILED, pb.INGEST_JOB_STATE_CANCELLED}


def unique_copy(data: bytes) -> bytes:
    """The same PDF with a different SHA-256 (a comment after %%EOF), so it is not deduplicated."""
    return data + f"\n% test copy {uuid.uuid4()}\n".encode()


def requests(data: bytes, title: str, *, filename: str = "book.pdf", sha: bool = True,
             chunk: int = CHUNK) -> Iterator[pb.UploadBookRequest]:
    yield pb.UploadBookRequest(metadata=pb.UploadBookMetadata(
        title=title, filename=filename, authors=["Test Author"], subject="cs",
        expected_sha256=hashlib.sha256(data).hexdigest() if sha else "",
    ))
    for start in range(0, len(data), chunk):
        yield pb.UploadBookRequest(chunk=data[start : start + chunk])


def upload(stub: ingest_service_pb2_grpc.IngestServiceStub, auth: list[tuple[str, str]], data: bytes,
           title: str, **kwargs: object) -> pb.UploadBookResponse:
    response: pb.UploadBookResponse = stub.UploadBook(requests(data, title, **kwargs),  # type: ignore[arg-type]
                                                      metadata=tuple(auth), timeout=120)
    return response


def wait_terminal(stub: ingest_service_pb2_grpc.IngestServiceStub, auth: list[tuple[str, str]], job_id: str,
                  timeout: float = 240) -> pb.IngestJob:
    deadline = time.monotonic() + timeout
    while True:
        job: pb.IngestJob = stub.GetIngestJob(pb.GetIngestJobRequest(job_id=job_id), metadata=tuple(auth)).job
        if job.state in TERMINAL:
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {pb.IngestJobState.Name(job.state)}"
        time.sleep(0.3)


def assert_loaded_once(stack: Stack, job: pb.IngestJob, atoms: int) -> None:
    """The job succeeded with `atoms` passages, and its file is in the library once: one job, one
    book, each passage once."""
    assert job.state == pb.INGEST_JOB_STATE_SUCCEEDED, job.error_message
    assert job.atoms_written == atoms
    with psycopg.connect(stack.settings.content_conninfo(), autocommit=True) as conn:
        jobs = conn.execute("SELECT job_id FROM ingest_jobs WHERE content_sha256 = %s",
                            (job.content_sha256,)).fetchall()
        books = conn.execute("SELECT book_id, atom_count FROM books WHERE content_sha256 = %s",
                             (job.content_sha256,)).fetchall()
        passages = conn.execute("SELECT count(*), count(DISTINCT ordinal) FROM content_atoms "
                                "JOIN books USING (book_no) WHERE book_id = %s", (job.book_id,)).fetchone()
    assert jobs == [(uuid.UUID(job.job_id),)]
    assert books == [(uuid.UUID(job.book_id), atoms)]
    assert passages == (atoms, atoms)


def stored_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout` seconds (generous: never a race)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


class HeldJob:
    """Holds the ingest job of one file at a hold point (ingest_svc.holds.HoldPoints)
    while the block runs, so a test can act on it mid-book; leaving the block releases it.

    The file is known by its bytes' SHA-256, so the hold is in place before the upload starts.
    """

    def __init__(self, stack: Stack, data: bytes, point: str = HoldPoints.RANGE_DONE) -> None:
        self.marker = Path(stack.settings.ingest_hold_dir) / f"{hashlib.sha256(data).hexdigest()}.{point}"

    def waiting(self) -> list[Path]:
        """The announcements of the steps waiting at the hold point now."""
        return list(self.marker.parent.glob(f"{self.marker.name}.*.waiting"))

    def wait_until_held(self) -> None:
        wait_for(lambda: bool(self.waiting()), f"a step to reach {self.marker.name}")

    def release(self) -> None:
        self.marker.unlink(missing_ok=True)

    def wait_until_moved_on(self) -> None:
        wait_for(lambda: not self.waiting(), f"the steps held at {self.marker.name} to move on")

    def __enter__(self) -> HeldJob:
        self.marker.touch()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
        for announcement in self.waiting():  # left by a killed worker process
            announcement.unlink(missing_ok=True)
