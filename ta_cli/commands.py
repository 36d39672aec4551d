"""One function per `ta` command; each returns the process exit code."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import grpc
from tqdm import tqdm

from teaching.content.v1 import content_service_pb2 as content_pb
from teaching.content.v1 import content_service_pb2_grpc
from teaching.ingest.v1 import ingest_service_pb2 as ingest_pb
from teaching.ingest.v1 import ingest_service_pb2_grpc

# The service accepts chunks of at most 1 MiB.
CHUNK_BYTES = 1024 * 1024
TERMINAL_STATES = {ingest_pb.INGEST_JOB_STATE_SUCCEEDED, ingest_pb.INGEST_JOB_STATE_FAILED,
                   ingest_pb.INGEST_JOB_STATE_CANCELLED}
Metadata = tuple[tuple[str, str | bytes], ...]
Item = TypeVar("Item")


def enum_label(enum: Any, value: int) -> str:
    """INGEST_JOB_STATE_SUCCEEDED -> succeeded."""
    name: str = enum.Name(value)
    prefix = enum.Name(0).removesuffix("UNSPECIFIED")
    return name.removeprefix(prefix).lower()


def state_value(label: str) -> ingest_pb.IngestJobState.ValueType:
    return ingest_pb.IngestJobState.Value("INGEST_JOB_STATE_" + label.upper())


def file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _upload_requests(path: Path, metadata: ingest_pb.UploadBookMetadata,
                     bar: tqdm[Any]) -> Iterator[ingest_pb.UploadBookRequest]:
    yield ingest_pb.UploadBookRequest(metadata=metadata)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
            yield ingest_pb.UploadBookRequest(chunk=block)
            bar.update(len(block))


def upload(channel: grpc.Channel, auth: Metadata, path: Path, *, title: str, authors: list[str], subject: str,
           grade_level: str, wait: bool) -> int:
    if not path.is_file():
        print(f"ta: no such file: {path}", file=sys.stderr)
        return 2
    stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
    metadata = ingest_pb.UploadBookMetadata(title=title, filename=path.name, authors=authors, subject=subject,
                                            grade_level=grade_level, expected_sha256=file_sha256(path))
    with tqdm(total=path.stat().st_size, unit="B", unit_scale=True, unit_divisor=1024, desc="upload") as bar:
        response = stub.UploadBook(_upload_requests(path, metadata, bar), metadata=auth)
    note = " (already in the library: nothing ingested again)" if response.deduplicated else ""
    print(f"job {response.job.job_id}, book {response.book_id}{note}")
    if not wait:
        return 0
    return watch(channel, auth, response.job.job_id)


def watch(channel: grpc.Channel, auth: Metadata, job_id: str) -> int:
    """Follow a job with a bar of pages done until it ends; succeeded is exit code 0."""
    stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
    job: ingest_pb.IngestJob | None = None
    with tqdm(total=None, unit="page", desc="ingest") as bar:
        for update in stub.WatchIngestJob(ingest_pb.WatchIngestJobRequest(job_id=job_id), metadata=auth):
            job = update.job
            if job.pages_total and bar.total != job.pages_total:
                bar.reset(total=job.pages_total)
            bar.update(job.pages_done - bar.n)
            bar.set_postfix_str(f"{enum_label(ingest_pb.IngestStage, job.stage)}, {job.atoms_written} passages")
            bar.refresh()
    if job is None:
        print(f"ta: job {job_id} sent no update", file=sys.stderr)
        return 1
    print(f"job {job.job_id}: {enum_label(ingest_pb.IngestJobState, job.state)}; book {job.book_id}; "
          f"{job.atoms_written} passages")
    if job.state == ingest_pb.INGEST_JOB_STATE_FAILED:
        reason = enum_label(ingest_pb.IngestFailureReason, job.failure_reason)
        print(f"  {reason}: {job.error_message}", file=sys.stderr)
    return 0 if job.state == ingest_pb.INGEST_JOB_STATE_SUCCEEDED else 1


def cancel(channel: grpc.Channel, auth: Metadata, job_id: str) -> int:
    stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
    job = stub.CancelIngestJob(ingest_pb.CancelIngestJobRequest(job_id=job_id), metadata=auth).job
    print(f"job {job.job_id}: {enum_label(ingest_pb.IngestJobState, job.state)}")
    return 0


def _pages(fetch: Callable[[str], tuple[Sequence[Item], str]], limit: int) -> list[Item]:
    """Follow next_page_token until `limit` items or the end."""
    items: list[Item] = []
    token = ""
    while len(items) < limit:
        page, token = fetch(token)
        items += page
        if not token:
            break
    return items[:limit]


def _print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(value) for value in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        print("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip())


def jobs(channel: grpc.Channel, auth: Metadata, *, state: str | None, limit: int) -> int:
    stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
    state_filter = state_value(state) if state else ingest_pb.INGEST_JOB_STATE_UNSPECIFIED

    def fetch(token: str) -> tuple[Sequence[ingest_pb.IngestJob], str]:
        page = stub.ListIngestJobs(ingest_pb.ListIngestJobsRequest(page_size=min(limit, 200), page_token=token,
                                                                   state=state_filter), metadata=auth)
        return page.jobs, page.next_page_token

    rows = [
        (job.job_id, enum_label(ingest_pb.IngestJobState, job.state), f"{job.pages_done}/{job.pages_total}",
         job.book_id, job.create_time.ToDatetime().strftime("%Y-%m-%d %H:%M"), job.title)
        for job in _pages(fetch, limit)
    ]
    _print_table(("JOB", "STATE", "PAGES", "BOOK", "CREATED (UTC)", "TITLE"), rows)
    return 0


def books(channel: grpc.Channel, auth: Metadata, *, limit: int) -> int:
    stub = content_service_pb2_grpc.ContentServiceStub(channel)

    def fetch(token: str) -> tuple[Sequence[content_pb.Book], str]:
        page = stub.ListBooks(content_pb.ListBooksRequest(page_size=min(limit, 200), page_token=token),
                              metadata=auth)
        return page.books, page.next_page_token

    rows = [(book.book_id, book.page_count, book.atom_count, book.title) for book in _pages(fetch, limit)]
    _print_table(("BOOK", "PAGES", "PASSAGES", "TITLE"), rows)
    return 0


def delete_book(channel: grpc.Channel, auth: Metadata, book_id: str) -> int:
    stub = content_service_pb2_grpc.ContentServiceStub(channel)
    stub.DeleteBook(content_pb.DeleteBookRequest(book_id=book_id), metadata=auth)
    print(f"book {book_id} deleted")
    return 0
