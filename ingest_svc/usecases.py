"""IngestService's use cases: accept an upload, report and cancel jobs. Called by the thin api.py."""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from psycopg import Connection
from psycopg_pool import ConnectionPool

from common.errors import FailedPrecondition, InvalidArgument, NotFound
from common.pagination import PageTokens, page_size
from common.settings import Settings
from ingest_svc import store
from ingest_svc.domain.jobs import Job, JobState, UploadMetadata
from ingest_svc.domain.uploads import UploadChecks
from ingest_svc.pipeline import Dispatcher
from ingest_svc.storage import ObjectStorage

log = logging.getLogger(__name__)

WATCH_POLL_SECONDS = 0.3


@dataclass(frozen=True)
class UploadOutcome:
    job: Job | None
    book_id: uuid.UUID
    deduplicated: bool


class IngestService:
    def __init__(
        self,
        settings: Settings,
        pool: ConnectionPool[Connection[Any]],
        storage: ObjectStorage,
        dispatcher: Dispatcher,
        revoke: Callable[[uuid.UUID, list[int]], None],
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.storage = storage
        self.dispatcher = dispatcher
        self.revoke = revoke
        self.page_tokens = PageTokens.from_settings(settings)

    # --- upload --------------------------------------------------------------------------------

    def upload(self, metadata: UploadMetadata, chunks: Iterable[bytes], created_by: str) -> UploadOutcome:
        """Stream the file to storage with every check; only a complete, valid file becomes a job.

        Any failure (a bad chunk, a client that goes away) aborts the temporary object: nothing stays.
        """
        metadata = metadata.validated()
        checks = UploadChecks(
            max_bytes=self.settings.upload_max_bytes, chunk_max_bytes=self.settings.upload_chunk_max_bytes
        )
        job_id, book_id = uuid.uuid4(), uuid.uuid4()
        storage_key = f"uploads/{job_id}.pdf"
        pending = self.storage.begin_upload()
        try:
            for chunk in chunks:
                checks.add(chunk)
                pending.write(chunk)
            sha256 = checks.finish(metadata.expected_sha256)
            pending.commit(storage_key)
        except BaseException:
            pending.abort()
            raise
        try:
            outcome = self._record(metadata, job_id, book_id, sha256, checks.size, storage_key, created_by)
        except BaseException:
            self.storage.delete(storage_key)
            raise
        if outcome.deduplicated:
            self.storage.delete(storage_key)
        else:
            try:
                self.dispatcher.prepare(job_id)
            except Exception:
                # The job is recorded; a worker's recovery sweep enqueues it once the broker is back.
                log.exception("job %s: could not enqueue, left for recovery", job_id)
        return outcome

    def _record(
        self,
        metadata: UploadMetadata,
        job_id: uuid.UUID,
        book_id: uuid.UUID,
        sha256: str,
        size: int,
        storage_key: str,
        created_by: str,
    ) -> UploadOutcome:
        with self.pool.connection() as conn, conn.transaction():
            store.lock_content_hash(conn, sha256)
            existing_book = store.find_ready_book_by_hash(conn, sha256)
            if existing_book is not None:
                return UploadOutcome(store.find_job_by_book(conn, existing_book), existing_book, True)
            in_flight = store.find_in_flight_job_by_hash(conn, sha256)
            if in_flight is not None:
                return UploadOutcome(in_flight, in_flight.book_id, True)
            job = store.insert_job(
                conn,
                store.NewJob(
                    job_id=job_id,
                    book_id=book_id,
                    title=metadata.title,
                    filename=metadata.filename,
                    authors=metadata.authors,
                    subject=metadata.subject,
                    grade_level=metadata.grade_level,
                    content_sha256=sha256,
                    size_bytes=size,
                    storage_key=storage_key,
                    created_by=created_by,
                ),
            )
            return UploadOutcome(job, book_id, False)

    # --- jobs ----------------------------------------------------------------------------------

    def get(self, job_id: uuid.UUID) -> Job:
        with self.pool.connection() as conn:
            job = store.get_job(conn, job_id)
        if job is None:
            raise NotFound("ingest job", str(job_id))
        return job

    def list(self, state: JobState | None, requested_page_size: int, page_token: str) -> tuple[list[Job], str]:
        limit = page_size(requested_page_size)
        query = {"state": state.value if state else ""}
        cursor = self.page_tokens.decode(page_token, query=query)
        after = None
        if cursor is not None:
            try:
                after = (dt.datetime.fromisoformat(cursor["t"]), uuid.UUID(cursor["id"]))
            except (KeyError, ValueError, TypeError) as error:
                raise InvalidArgument({"page_token": "malformed page token"}) from error
        with self.pool.connection() as conn:
            jobs = store.list_jobs(conn, state=state, after=after, limit=limit + 1)
        next_token = ""
        if len(jobs) > limit:
            jobs = jobs[:limit]
            last = jobs[-1]
            next_token = self.page_tokens.encode(
                {"t": last.create_time.isoformat(), "id": str(last.job_id)}, query=query
            )
        return jobs, next_token

    def cancel(self, job_id: uuid.UUID) -> Job:
        with self.pool.connection() as conn, conn.transaction():
            # Waits for a final load in progress; then the job is either loaded or cancelled, never both.
            job = store.get_job(conn, job_id, for_update=True)
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
            store.mark_cancelled(conn, job_id)
            first_pages = [first for first, _last in store.all_ranges(conn, job_id)]
            cancelled = store.get_job(conn, job_id)
        assert cancelled is not None
        try:
            self.revoke(job_id, first_pages)
        except Exception:
            log.exception("job %s: revoking tasks failed; they stop on their own at the next check", job_id)
        self.storage.delete(job.storage_key)
        return cancelled

    def watch(self, job_id: uuid.UUID, is_active: Callable[[], bool]) -> Iterator[Job]:
        """The job now and after every change, until it ends or the caller goes away."""
        last: Job | None = None
        while is_active():
            job = self.get(job_id)
            if job != last:
                yield job
                last = job
            if job.state.is_terminal:
                return
            time.sleep(WATCH_POLL_SECONDS)

