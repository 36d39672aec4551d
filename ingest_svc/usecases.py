"""IngestService's use cases: accept an upload, report and cancel jobs. Called by the thin api.py."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pydantic
from psycopg import Connection
from psycopg_pool import ConnectionPool

from common import tracing
from common.errors import FailedPrecondition, NotFound
from common.pagination import Page, PageTokens
from common.settings import Settings
from content_svc import writer
from ingest_svc import repository
from ingest_svc.holds import HoldPoints
from ingest_svc.rules.jobs import Job, JobState, UploadMetadata
from ingest_svc.rules.uploads import UploadChecks, storage_key
from ingest_svc.storage import ObjectStorage
from ingest_svc.watches import Deliver, Finish, JobWatches

log = logging.getLogger(__name__)

_JOBS_CURSOR = pydantic.TypeAdapter(tuple[dt.datetime, uuid.UUID])


@dataclass(frozen=True)
class UploadOutcome:
    job: Job | None
    book_id: uuid.UUID
    deduplicated: bool


class IngestUseCases:
    def __init__(
        self,
        settings: Settings,
        pool: ConnectionPool[Connection[Any]],
        storage: ObjectStorage,
        dispatch_soon: Callable[[], None],
        revoke: Callable[[uuid.UUID, list[int]], None],
        watches: JobWatches,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.storage = storage
        self.dispatch_soon = dispatch_soon
        self.revoke = revoke
        self.watches = watches
        self.page_tokens = PageTokens.from_settings(settings)
        self.holds = HoldPoints.from_folder(settings.ingest_hold_dir)

    # --- upload --------------------------------------------------------------------------------

    def upload(self, metadata: UploadMetadata, chunks: Iterable[bytes], created_by: str) -> UploadOutcome:
        """Stream the file to storage with every check; only a complete, valid file becomes a job.

        Any failure (a bad chunk, a client that goes away) aborts the temporary object: nothing stays.
        The job and its outbox entry commit together; the relay publishes it (never this call, so a
        dead or frozen broker cannot block an upload, and a job recorded is a job dispatched).
        """
        metadata = metadata.validated()
        checks = UploadChecks(
            max_bytes=self.settings.upload_max_bytes, chunk_max_bytes=self.settings.upload_chunk_max_bytes
        )
        job_id, book_id = uuid.uuid4(), uuid.uuid4()
        key = storage_key(job_id)
        pending = self.storage.begin_upload()
        try:
            for chunk in chunks:
                checks.add(chunk)
                pending.write(chunk)
            sha256 = checks.finish(metadata.expected_sha256)
            pending.commit(key)
        except BaseException:
            pending.abort()
            raise
        try:
            outcome = self._record(metadata, job_id, book_id, sha256, checks.size, key, created_by)
        except BaseException:
            self.storage.delete(key)
            raise
        if outcome.deduplicated:
            self.storage.delete(key)
        else:
            self.holds.wait(HoldPoints.UPLOAD_RECORDED, sha256)
            self.dispatch_soon()
        return outcome

    def _record(
        self,
        metadata: UploadMetadata,
        job_id: uuid.UUID,
        book_id: uuid.UUID,
        sha256: str,
        size: int,
        key: str,
        created_by: str,
    ) -> UploadOutcome:
        with self.pool.connection() as conn, conn.transaction():
            repository.lock_content_hash(conn, sha256)
            existing_book = writer.find_book_by_hash(conn, sha256)
            if existing_book is not None:
                return UploadOutcome(repository.find_job_by_book(conn, existing_book), existing_book, True)
            in_flight = repository.find_in_flight_job_by_hash(conn, sha256)
            if in_flight is not None:
                return UploadOutcome(in_flight, in_flight.book_id, True)
            job = repository.insert_job(
                conn, job_id=job_id, book_id=book_id, metadata=metadata, content_sha256=sha256, size_bytes=size,
                storage_key=key, created_by=created_by, trace=tracing.current_context(),
            )
            return UploadOutcome(job, book_id, False)

    # --- jobs ----------------------------------------------------------------------------------

    def get(self, job_id: uuid.UUID) -> Job:
        with self.pool.connection() as conn:
            job = repository.get_job(conn, job_id)
        if job is None:
            raise NotFound("ingest job", str(job_id))
        return job

    def list(self, state: JobState | None, requested_page_size: int, page_token: str) -> Page[Job]:
        with self.pool.connection() as conn:
            return self.page_tokens.paginate(
                requested_page_size, page_token, query={"state": state.value if state else ""},
                cursor=_JOBS_CURSOR,
                fetch=lambda after, limit: repository.list_jobs(conn, state=state, after=after, limit=limit),
                cursor_of=lambda job: (job.create_time, job.job_id),
            )

    def cancel(self, job_id: uuid.UUID) -> Job:
        with self.pool.connection() as conn, conn.transaction():
            # Waits for a final load in progress; then the job is either loaded or cancelled, never both.
            job = repository.get_job(conn, job_id, for_update=True)
            if job is None:
                raise NotFound("ingest job", str(job_id))
            if job.state is JobState.CANCELLED:
                return job
            if job.state.is_terminal:
                raise FailedPrecondition(
                    f"the job already ended ({job.state.value}); only queued or running jobs can be cancelled",
                    violation_type="JOB_STATE",
                    subject=f"ingest-jobs/{job_id}",
                )
            repository.mark_cancelled(conn, job_id)
            first_pages = [first for first, _last in repository.all_ranges(conn, job_id)]
            cancelled = repository.get_job(conn, job_id)
        assert cancelled is not None
        try:
            self.revoke(job_id, first_pages)
        except Exception:
            log.exception("job %s: revoking tasks failed; they stop on their own at the next check", job_id)
        self.storage.delete(job.storage_key)
        return cancelled

    def watch(self, job_id: uuid.UUID, caller: str, deliver: Deliver, finish: Finish) -> Callable[[], None]:
        """Follow the job: `deliver` gets it now and after every change, `finish` ends the stream after
        its terminal state. Returns what stops following (when the caller goes away)."""
        self.get(job_id)  # NOT_FOUND before the stream starts
        return self.watches.open(job_id, caller, deliver, finish)
