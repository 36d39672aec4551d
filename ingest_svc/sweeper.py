"""No orphaned files: what the object storage keeps, and for how long.

Every INGEST_SWEEP_SECONDS one IngestService process (an advisory lock picks it among replicas)
removes:
- the PDF of a job that ended (succeeded, failed or cancelled) INGEST_FILE_RETENTION_SECONDS ago
  (a day by default: time to look at a failed job's file; the library holds what a book needs, and
  a deleted book's job ended long before). Cancelling removes the file at once as well;
- partial uploads (`.tmp/`) and stored PDFs no job refers to, once nobody wrote to them for
  INGEST_ORPHAN_GRACE_SECONDS (an hour: an upload streams to `.tmp/`, then its job is recorded within
  the same call, so only a crashed or killed call leaves either behind).
Nothing a job in flight refers to is ever removed: its file has a job and that job has not ended.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from psycopg import Connection
from psycopg_pool import ConnectionPool

from common.errors import Unavailable
from common.settings import Settings
from ingest_svc import repository
from ingest_svc.rules.uploads import STORED_PREFIX, abandoned, job_of_key
from ingest_svc.storage import TEMPORARY_PREFIX, ObjectStorage

log = logging.getLogger(__name__)

BATCH = 500


class StorageSweeper:
    def __init__(self, pool: ConnectionPool[Connection[Any]], storage: ObjectStorage, settings: Settings) -> None:
        self.pool = pool
        self.storage = storage
        self.interval = settings.ingest_sweep_seconds
        self.retention = settings.ingest_file_retention_seconds
        self.grace = settings.ingest_orphan_grace_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="storage-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sweep()
            except Unavailable as error:
                log.warning("storage sweep skipped: %s", error)
            except Exception:
                log.exception("storage sweep failed; trying again in %.0fs", self.interval)

    def sweep(self) -> int:
        """One pass; returns how many objects it removed (0 when another replica is sweeping)."""
        with self.pool.connection() as conn:
            locked = repository.try_sweep_lock(conn)
            conn.commit()  # the lock is the session's; no transaction stays open while files go
            if not locked:
                return 0
            try:
                removed = self._ended_jobs(conn) + self._orphans(conn)
            finally:
                repository.sweep_unlock(conn)
        if removed:
            log.info("storage sweep removed %d object(s)", removed)
        return removed

    def _ended_jobs(self, conn: Connection[Any]) -> int:
        removed = 0
        while ended := repository.ended_job_files(conn, self.retention, BATCH):
            for file in ended:
                self.storage.delete(file.storage_key)
            repository.mark_files_removed(conn, [file.job_id for file in ended])
            conn.commit()
            removed += len(ended)
        return removed

    def _orphans(self, conn: Connection[Any]) -> int:
        now = time.time()
        partial = abandoned(self.storage.list(TEMPORARY_PREFIX), now, self.grace)
        stored = {job: f for f in abandoned(self.storage.list(STORED_PREFIX), now, self.grace)
                  if (job := job_of_key(f.key)) is not None}
        jobless = set(stored) - repository.existing_jobs(conn, list(stored)) if stored else set()
        for file in [*partial, *(stored[job] for job in jobless)]:
            log.warning("removing %s: no job refers to it and it was left %.0fs ago", file.key, now - file.modified)
            self.storage.delete(file.key)
        return len(partial) + len(jobless)
