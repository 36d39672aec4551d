"""Shared helpers of the ingest tests: streaming uploads and waiting for jobs."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

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


def stored_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} if root.exists() else set()
