"""The outbox relay: the job rows say what the workers must be told; this publishes it.

A job whose `prepare` message is due carries `dispatch_after` (ingest_svc.repository): UploadBook sets
it in the transaction that records the job, a step that could not publish its successors sets it, and
recovery sets it for a job whose worker died. The relay publishes the due ones and clears the column
once the broker took the message; a publish that fails (Redis down or frozen) is retried a second
later, so a job is on its way within seconds of the broker's return. `prepare` resumes a job from
wherever it is and every step is idempotent, so a duplicate message is harmless.

It runs as a thread in every IngestService process and in every Celery worker's main process; they
share the work through row locks (FOR UPDATE SKIP LOCKED). Workers also beat in `ingest_workers`:
work claimed by a worker that stopped beating (killed, or replaced under another name) is dispatched
again after WORKER_DEAD_AFTER_SECONDS, and a job nobody reported on for STALE_AFTER_SECONDS too.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

from psycopg import Connection
from psycopg_pool import ConnectionPool

from common import tracing
from common.errors import Unavailable
from ingest_svc import repository
from ingest_svc.rules.jobs import Dispatcher, DispatchFailed

log = logging.getLogger(__name__)

RELAY_SECONDS = 1.0
RETRY_AFTER_SECONDS = 1.0
BATCH = 100
RECOVERY_SECONDS = 5.0
WORKER_BEAT_SECONDS = 5.0
WORKER_DEAD_AFTER_SECONDS = 20.0
STALE_AFTER_SECONDS = 300.0


class OutboxRelay:
    """Publishes due dispatches and recovers orphaned jobs on a thread of its own.

    `worker` is set in a Celery worker's main process: the relay then beats for it, and its first
    recovery also takes back what a previous incarnation under the same name held.
    """

    def __init__(
        self,
        pool: ConnectionPool[Connection[Any]],
        dispatcher: Dispatcher,
        *,
        worker: str | None = None,
    ) -> None:
        self.pool = pool
        self.dispatcher = dispatcher
        self.worker = worker
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._next_recovery = 0.0
        self._next_beat = 0.0
        self._recover_own = worker is not None
        self._failing = False
        self._broker_failing = False
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def poke(self) -> None:
        """Publish now rather than at the next tick (a job was just recorded)."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
        if self.worker is not None:
            try:
                with self.pool.connection() as conn:
                    repository.worker_gone(conn, self.worker)
            except Unavailable:
                pass  # its claims look dead once its beats stop; recovery takes them then

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.run_once()
            except Exception as error:
                if not self._failing:
                    log.warning("outbox relay failing, retrying every %.0fs: %s", RELAY_SECONDS, error,
                                exc_info=not isinstance(error, Unavailable))
                self._failing = True
            else:
                if self._failing:
                    log.info("outbox relay working again")
                self._failing = False
            self._wake.wait(RELAY_SECONDS)

    def run_once(self) -> int:
        """One round: beat, recover if it is time, publish what is due; returns how many were published."""
        now = time.monotonic()
        if self.worker is not None and now >= self._next_beat:
            with self.pool.connection() as conn:
                repository.worker_beat(conn, self.worker)
            self._next_beat = now + WORKER_BEAT_SECONDS
        if now >= self._next_recovery:
            self.recover()
            self._next_recovery = now + RECOVERY_SECONDS
        return self.publish_due()

    def recover(self) -> list[uuid.UUID]:
        own = self.worker if self._recover_own else None
        with self.pool.connection() as conn, conn.transaction():
            orphans = repository.recover_orphans(
                conn, own=own, dead_after=WORKER_DEAD_AFTER_SECONDS, stale_after=STALE_AFTER_SECONDS
            )
        self._recover_own = False
        for job_id in orphans:
            log.warning("job %s: dispatched again (its worker is gone or it was silent)", job_id)
        return orphans

    def publish_due(self) -> int:
        with self.pool.connection() as conn, conn.transaction():
            due = repository.claim_due_dispatches(conn, BATCH)
            for index, (job_id, trace) in enumerate(due):
                try:
                    with tracing.continuing(trace):  # the upload's trace goes on through the workers
                        self.dispatcher.prepare(job_id)
                except DispatchFailed as error:
                    # The broker is in trouble: keep the rest for the next round.
                    repository.postpone_dispatch(conn, [d.job_id for d in due[index:]], RETRY_AFTER_SECONDS)
                    if not self._broker_failing:
                        log.warning("the broker does not take messages; %d job(s) wait, retried every %.0fs: %s",
                                    len(due) - index, RETRY_AFTER_SECONDS, error)
                    self._broker_failing = True
                    return index
                repository.mark_dispatched(conn, job_id)
        if due and self._broker_failing:
            log.info("the broker takes messages again; %d job(s) dispatched", len(due))
            self._broker_failing = False
        return len(due)
