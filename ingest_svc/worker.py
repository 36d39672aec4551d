"""The Celery application of the ingest pipeline (`celery -A ingest_svc.worker worker`).

Tasks are acknowledged late and rejected (requeued) when their worker process dies, and every task
is idempotent, so a redelivered message is harmless. Retries are declarative (PipelineTask): a
transient error (database, storage, embedding API) is retried with exponential backoff; a
deterministic one (a file that cannot be read, a book already in the library, an inconsistent parsed
book, a cancelled job) is not, and a job whose step failed for good is marked FAILED in `on_failure`.
Recovery does not wait for Redis' visibility timeout: when a worker starts it re-enqueues the jobs
its previous incarnation held, and every worker periodically re-enqueues in-flight jobs whose
heartbeat went stale.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from pathlib import Path
from typing import Any

import psycopg
from celery import Celery, Task
from celery.signals import worker_process_init, worker_ready, worker_shutdown

# The pipeline's modules (numpy, pypdfium2, psycopg, the embedders; about 0.25 s of imports) load
# here, in the parent, so forked worker processes start with them instead of paying on their first task.
from common.db import content_pool
from common.errors import InvalidArgument
from common.settings import get_settings
from content_svc.contract import DuplicateBook, Embedder
from content_svc.embedding import embedder_from_settings
from ingest_svc import repository
from ingest_svc.pipeline import HoldPoints, Pipeline
from ingest_svc.rules.jobs import FailureReason, IngestFailed, JobCancelled
from ingest_svc.storage import ObjectStorage, storage_from_settings
from ingest_svc.telemetry import instrument_celery

log = logging.getLogger(__name__)

settings = get_settings()

# A job nobody reported on for this long is presumed orphaned and re-enqueued (its steps are idempotent).
STALE_AFTER_SECONDS = 300.0
RECOVERY_SWEEP_SECONDS = 60.0
MAX_RETRIES = 3

PREPARE = "ingest.prepare"
PROCESS_RANGE = "ingest.process_range"
FINALIZE = "ingest.finalize"

app = Celery("ingest_svc", broker=settings.redis_url)
app.conf.update(
    # A task is acknowledged only after it finished, so a worker killed mid-book loses nothing.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    task_ignore_result=True,
    # Unacknowledged messages are redelivered after this; it must outlast the longest task (a page
    # range with a slow embedder, the final load). Recovery of dead workers does not rely on it.
    broker_transport_options={"visibility_timeout": 3600},
    worker_hijack_root_logger=False,
)
# JSON logs, metrics (WORKER_METRICS_PORT) and tracing of the tasks: ingest_svc.telemetry.
instrument_celery(app)


def task_id(job_id: uuid.UUID, step: str) -> str:
    """Deterministic ids, so CancelIngestJob can revoke a job's tasks without storing them."""
    return f"ingest-{job_id}-{step}"


class CeleryDispatcher:
    def prepare(self, job_id: uuid.UUID) -> None:
        app.send_task(PREPARE, args=[str(job_id)], task_id=task_id(job_id, "prepare"))

    def process_range(self, job_id: uuid.UUID, first_page: int, last_page: int) -> None:
        app.send_task(
            PROCESS_RANGE,
            args=[str(job_id), first_page, last_page],
            task_id=task_id(job_id, f"range-{first_page}"),
        )

    def finalize(self, job_id: uuid.UUID) -> None:
        app.send_task(FINALIZE, args=[str(job_id)], task_id=task_id(job_id, "finalize"))


def revoke_job_tasks(job_id: uuid.UUID, first_pages: list[int]) -> None:
    ids = [task_id(job_id, "prepare"), task_id(job_id, "finalize")]
    ids += [task_id(job_id, f"range-{first}") for first in first_pages]
    app.control.revoke(ids)


# --- per-process resources (created after the prefork fork) ---------------------------------------

_Resources = tuple[Any, ObjectStorage, Embedder]
_resources: dict[int, _Resources] = {}
_resources_lock = threading.Lock()


def _process_resources() -> _Resources:
    """This process' pool, storage and embedder, created on first use (never inherited across a fork)."""
    pid = os.getpid()
    with _resources_lock:
        if pid not in _resources:
            _resources.clear()
            _resources[pid] = (
                content_pool(settings, name="ingest-worker"),
                storage_from_settings(settings),
                embedder_from_settings(settings),
            )
        return _resources[pid]


def _pipeline(worker_name: str) -> Pipeline:
    pool, storage, embedder = _process_resources()
    holds = HoldPoints(Path(settings.ingest_hold_dir) if settings.ingest_hold_dir else None)
    return Pipeline(pool, storage, embedder, CeleryDispatcher(), worker_name, holds)


def _warm_up() -> None:
    try:
        _, _, embedder = _process_resources()
        embedder.embed(["warm up"])
    except Exception:
        log.warning("warming up the worker process failed; its first task will retry", exc_info=True)


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _on_worker_process_init(**_kwargs: Any) -> None:
    # Open the pool and load the embedder as soon as the process exists, not on its first task. In a
    # thread: process init must return quickly (Celery times it out), and the database may be slow.
    threading.Thread(target=_warm_up, name="ingest-warm-up", daemon=True).start()


class PipelineTask(Task):  # type: ignore[misc]
    """A pipeline step: retried on transient errors, never on deterministic ones; FAILED when it gives up."""

    autoretry_for = (Exception,)
    # Retrying these cannot help: the file is unreadable, the book is already in the library, the
    # parsed book is inconsistent, or the job ended (cancelled) under the step.
    dont_autoretry_for = (IngestFailed, DuplicateBook, InvalidArgument, JobCancelled)
    # Expected outcomes, not worker errors: logged without a traceback.
    throws = (IngestFailed, JobCancelled)
    max_retries = MAX_RETRIES
    retry_backoff = True  # 1 s, 2 s, 4 s
    retry_backoff_max = 60
    retry_jitter = False

    def on_failure(self, exc: Exception, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                   einfo: Any) -> None:
        job_id = uuid.UUID(args[0])
        if isinstance(exc, JobCancelled):
            log.info("job %s: %s stopped, the job ended (cancelled?)", job_id, self.name)
            return
        if isinstance(exc, IngestFailed):
            reason, message = exc.reason, exc.message
        else:
            reason, message = FailureReason.INTERNAL, f"internal error while ingesting ({exc}); retry the upload"
        _pipeline(self.request.hostname or "worker").fail(job_id, reason, message)


@app.task(name=PREPARE, bind=True, base=PipelineTask)  # type: ignore[untyped-decorator]
def prepare(self: Task, job_id: str) -> None:
    _pipeline(self.request.hostname or "worker").prepare(uuid.UUID(job_id))


@app.task(name=PROCESS_RANGE, bind=True, base=PipelineTask)  # type: ignore[untyped-decorator]
def process_range(self: Task, job_id: str, first_page: int, last_page: int) -> None:
    _pipeline(self.request.hostname or "worker").process_range(uuid.UUID(job_id), first_page, last_page)


@app.task(name=FINALIZE, bind=True, base=PipelineTask)  # type: ignore[untyped-decorator]
def finalize(self: Task, job_id: str) -> None:
    _pipeline(self.request.hostname or "worker").finalize(uuid.UUID(job_id))


@app.task(name="ingest.ping")  # type: ignore[untyped-decorator]
def ping() -> str:
    return "pong"


# --- recovery --------------------------------------------------------------------------------------

_stop_sweeps = threading.Event()


def recover_orphans(worker_name: str, *, include_own: bool) -> list[uuid.UUID]:
    """Re-enqueue in-flight jobs that lost their worker; returns their ids."""
    with psycopg.connect(settings.content_conninfo(), autocommit=True) as conn:
        orphans = repository.orphaned_jobs(conn, worker_name if include_own else None, STALE_AFTER_SECONDS)
    dispatcher = CeleryDispatcher()
    for job_id in orphans:
        log.warning("job %s: re-enqueued (its worker is gone or silent)", job_id)
        dispatcher.prepare(job_id)
    return orphans


def _sweep_forever(worker_name: str) -> None:
    include_own = True  # at start, whatever this worker's name still holds belongs to a dead incarnation
    while True:
        try:
            recover_orphans(worker_name, include_own=include_own)
        except Exception:
            log.exception("orphan recovery sweep failed")
        include_own = False
        if _stop_sweeps.wait(RECOVERY_SWEEP_SECONDS):
            return


@worker_ready.connect  # type: ignore[untyped-decorator]
def _on_worker_ready(sender: Any = None, **_kwargs: Any) -> None:
    worker_name = getattr(sender, "hostname", None) or "worker"
    threading.Thread(target=_sweep_forever, args=(worker_name,), name="ingest-recovery", daemon=True).start()


@worker_shutdown.connect  # type: ignore[untyped-decorator]
def _on_worker_shutdown(**_kwargs: Any) -> None:
    _stop_sweeps.set()
