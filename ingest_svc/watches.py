"""Following ingest jobs for WatchIngestJob without a thread per stream.

Streams are non-blocking gRPC handlers: a watch is a registration here, not a waiting thread. One
thread LISTENs for `ingest_job_changed` (a trigger notifies every change a watcher can see), reads the
changed jobs that have watchers in one query on that same connection, and hands each watcher its
job's latest state; a few sender threads write to the streams, one message at a time per stream,
always the newest state (a slow reader skips intermediate ones, never gets them out of order). A
stream ends after its job's terminal state.

If the LISTEN connection is lost (a database restart), the thread reconnects and re-reads every
watched job, so nothing is missed; it also re-reads them every RESYNC_SECONDS as a safety net.
Watches are capped per caller and in total (RESOURCE_EXHAUSTED beyond).
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg

from common.errors import NotFound, ResourceExhausted, ServiceError, Unavailable
from ingest_svc import repository
from ingest_svc.rules.jobs import Job

log = logging.getLogger(__name__)

CHANNEL = "ingest_job_changed"
RESYNC_SECONDS = 10.0
RECONNECT_SECONDS = 1.0
SENDER_THREADS = 4

Deliver = Callable[[Job], None]
# Ends the stream: OK when None, else with the error's status.
Finish = Callable[[ServiceError | None], None]


class _Watcher:
    def __init__(self, job_id: uuid.UUID, caller: str, deliver: Deliver, finish: Finish,
                 senders: ThreadPoolExecutor) -> None:
        self.job_id = job_id
        self.caller = caller
        self._deliver = deliver
        self._finish = finish
        self._senders = senders
        self._lock = threading.Lock()
        self._latest: Job | None = None
        self._sent: Job | None = None
        self._sending = False
        self._ended = False

    def offer(self, job: Job) -> None:
        """The job's newest state; sent unless it is what the stream already has."""
        with self._lock:
            if self._ended:
                return
            self._latest = job
            if self._sending:
                return  # the sender in progress picks it up
            self._sending = True
        self._senders.submit(self._send)

    def end(self, error: ServiceError | None) -> None:
        with self._lock:
            if self._ended:
                return
            self._ended = True
        self._finish(error)

    def _send(self) -> None:
        while True:
            with self._lock:
                job = self._latest
                if self._ended or job is None or job == self._sent:
                    self._sending = False
                    return
                self._sent = job
            try:
                self._deliver(job)
            except Exception:  # the stream is gone; its close callback unregisters it
                log.info("watch of job %s: sending failed", self.job_id, exc_info=True)
                self.end(None)
            if job.state.is_terminal:
                self.end(None)


class JobWatches:
    """Registrations of WatchIngestJob streams, fed by one LISTEN thread."""

    def __init__(self, conninfo: str, *, max_streams: int, max_per_caller: int, connect_timeout: int = 2) -> None:
        self._conninfo = conninfo
        self._connect_timeout = connect_timeout
        self._max_streams = max_streams
        self._max_per_caller = max_per_caller
        self._lock = threading.Lock()
        self._by_job: defaultdict[uuid.UUID, set[_Watcher]] = defaultdict(set)
        self._per_caller: Counter[str] = Counter()
        self._new: set[_Watcher] = set()
        self._senders = ThreadPoolExecutor(max_workers=SENDER_THREADS, thread_name_prefix="watch-send")
        self._wake_read, self._wake_write = os.pipe()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watch-listen", daemon=True)

    # --- registrations (gRPC threads) -------------------------------------------------------------

    def open(self, job_id: uuid.UUID, caller: str, deliver: Deliver, finish: Finish) -> Callable[[], None]:
        """Register a stream; returns what unregisters it (the RPC's close callback)."""
        with self._lock:
            if sum(self._per_caller.values()) >= self._max_streams:
                raise ResourceExhausted(f"the service follows {self._max_streams} watches already; retry later",
                                        reason="TOO_MANY_WATCHES")
            if self._per_caller[caller] >= self._max_per_caller:
                raise ResourceExhausted(
                    f"you have {self._max_per_caller} watches open, the most one caller may; close one first",
                    reason="TOO_MANY_WATCHES")
            watcher = _Watcher(job_id, caller, deliver, finish, self._senders)
            self._by_job[job_id].add(watcher)
            self._per_caller[caller] += 1
            self._new.add(watcher)
        self._wake()
        return lambda: self._close(watcher)

    def _close(self, watcher: _Watcher) -> None:
        with self._lock:
            watchers = self._by_job.get(watcher.job_id)
            if watchers is None or watcher not in watchers:
                return
            watchers.discard(watcher)
            if not watchers:
                del self._by_job[watcher.job_id]
            self._per_caller[watcher.caller] -= 1
            if not self._per_caller[watcher.caller]:
                del self._per_caller[watcher.caller]
            self._new.discard(watcher)
        watcher.end(None)

    def count(self) -> int:
        with self._lock:
            return sum(self._per_caller.values())

    # --- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def drain(self) -> None:
        """End every stream with UNAVAILABLE: the server is going away, watch again (elsewhere)."""
        with self._lock:
            watchers = [w for ws in self._by_job.values() for w in ws]
        for watcher in watchers:
            watcher.end(Unavailable("the service is shutting down; watch the job again"))

    def close(self) -> None:
        self._stop.set()
        self._wake()
        self._thread.join(timeout=5)
        self.drain()
        self._senders.shutdown(wait=False)
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _wake(self) -> None:
        os.write(self._wake_write, b"x")

    # --- the LISTEN thread --------------------------------------------------------------------------

    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=self._connect_timeout,
                                     application_name="ingest-watches") as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    if failing:
                        log.info("watches: following jobs again")
                    failing = False
                    self._follow(conn)
            except psycopg.Error as error:
                if not failing:
                    log.warning("watches: the database connection failed, reconnecting every %.0fs: %s",
                                RECONNECT_SECONDS, error)
                failing = True
                self._stop.wait(RECONNECT_SECONDS)
            except Exception:  # never let the one thread that feeds every stream die
                log.exception("watches: following jobs failed; starting again")
                self._stop.wait(RECONNECT_SECONDS)

    def _follow(self, conn: psycopg.Connection[Any]) -> None:
        resync_at = 0.0  # at once: after a (re)connection every watched job is read again
        while not self._stop.is_set():
            changed = {uuid.UUID(note.payload) for note in conn.notifies(timeout=0)}
            with self._lock:
                new, self._new = self._new, set()  # registered since the last round: read them now
                if time.monotonic() >= resync_at:
                    changed |= set(self._by_job)
                    resync_at = time.monotonic() + RESYNC_SECONDS
                wanted = {job_id for job_id in changed if job_id in self._by_job} | {w.job_id for w in new}
            if wanted:
                self._publish(repository.get_jobs(conn, sorted(wanted)), wanted)
                continue  # notifications that arrived during the read wait in psycopg's backlog
            readable, _, _ = select.select([conn.fileno(), self._wake_read], [], [],
                                           max(resync_at - time.monotonic(), 0.0))
            if self._wake_read in readable:
                os.read(self._wake_read, 4096)

    def _publish(self, jobs: list[Job], wanted: set[uuid.UUID]) -> None:
        found = {job.job_id: job for job in jobs}
        with self._lock:
            targets = [(w, found.get(job_id)) for job_id in wanted for w in self._by_job.get(job_id, ())]
        for watcher, job in targets:
            if job is None:
                watcher.end(NotFound("ingest job", str(watcher.job_id)))
            else:
                watcher.offer(job)
