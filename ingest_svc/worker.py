"""The Celery application of the ingest pipeline (`celery -A ingest_svc.worker worker`).

Tasks are acknowledged late and rejected (requeued) when their worker process dies, and every task
is idempotent, so a redelivered message is harmless. Retries are declarative (PipelineTask): a
transient error (database, storage, embedding API) is retried with exponential backoff; a
deterministic one (a file that cannot be read, a book already in the library, an inconsistent parsed
book, a cancelled job) is not, and a job whose step failed for good is marked FAILED in `on_failure`.
Publishing is bounded (a dead or frozen Redis fails a publish within PUBLISH_TIMEOUT_SECONDS) and
never loses a job: what could not be published is left to the outbox (ingest_svc.outbox), whose relay
runs in this worker's main process too, beats for it, and re-dispatches the jobs of dead workers.
Recovery does not wait for Redis' visibility timeout.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from typing import Any

from celery import Celery, Task
from celery.signals import worker_process_init, worker_ready, worker_shutdown

# The pipeline's modules (numpy, pypdfium2, psycopg, the embedders; about 0.25 s of imports) load
# here, in the parent, so forked worker processes start with them instead of paying on their first task.
from common.db import content_pool
from common.errors import InvalidArgument, Unavailable
from common.settings import get_settings
from content_svc.contract import DuplicateBook, Embedder
from content_svc.embedding import embedder_from_settings
from ingest_svc.holds import HoldPoints
from ingest_svc.outbox import OutboxRelay
from ingest_svc.pipeline import Pipeline
from ingest_svc.rules.jobs import DispatchFailed, FailureReason, IngestFailed, JobCancelled
from ingest_svc.storage import ObjectStorage, storage_from_settings
from ingest_svc.telemetry import instrument_celery

log = logging.getLogger(__name__)

settings = get_settings()

MAX_RETRIES = 3
# A dependency outage (the database down) is retried patiently: 1, 2, 4, 8, then every 10 s, about
# a minute and a half in all, so an outage that long delays a book instead of failing it.
OUTAGE_RETRIES = 12
OUTAGE_RETRY_MAX_SECONDS = 10
# Every broker operation of ours (publish, revoke) gives up after this long.
PUBLISH_TIMEOUT_SECONDS = 2.0

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


@contextlib.contextmanager
def bounded_broker() -> Iterator[Any]:
    """A broker connection on which every operation gives up within PUBLISH_TIMEOUT_SECONDS.

    Celery's defaults would wait on a frozen Redis forever and retry a dead one: a caller (UploadBook,
    CancelIngestJob, a pipeline step) must never block on the broker. Any failure is DispatchFailed.
    """
    options = {
        **app.conf.broker_transport_options,
        "socket_timeout": PUBLISH_TIMEOUT_SECONDS,
        "socket_connect_timeout": PUBLISH_TIMEOUT_SECONDS,
    }
    try:
        with app.connection_for_write(transport_options=options) as connection:
            connection.ensure_connection(max_retries=1, timeout=PUBLISH_TIMEOUT_SECONDS)
            yield connection
    except Exception as error:  # kombu, redis and socket errors alike: the message was not taken
        raise DispatchFailed(f"{type(error).__name__}: {error}") from error


def _send(name: str, args: list[Any], step_task_id: str) -> None:
    with bounded_broker() as connection:
        app.send_task(name, args=args, task_id=step_task_id, connection=connection, retry=False)


class CeleryDispatcher:
    def prepare(self, job_id: uuid.UUID) -> None:
        _send(PREPARE, [str(job_id)], task_id(job_id, "prepare"))

    def process_range(self, job_id: uuid.UUID, first_page: int, last_page: int) -> None:
        _send(PROCESS_RANGE, [str(job_id), first_page, last_page], task_id(job_id, f"range-{first_page}"))

    def finalize(self, job_id: uuid.UUID) -> None:
        _send(FINALIZE, [str(job_id)], task_id(job_id, "finalize"))


def revoke_job_tasks(job_id: uuid.UUID, first_pages: list[int]) -> None:
    ids = [task_id(job_id, "prepare"), task_id(job_id, "finalize")]
    ids += [task_id(job_id, f"range-{first}") for first in first_pages]
    with bounded_broker() as connection:
        app.control.revoke(ids, connection=connection)


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
    return Pipeline(pool, storage, embedder, CeleryDispatcher(), worker_name,
                    HoldPoints.from_folder(settings.ingest_hold_dir))


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
    # Unavailable is retried too, patiently (__call__).
    dont_autoretry_for = (IngestFailed, DuplicateBook, InvalidArgument, JobCancelled, Unavailable)
    # Expected outcomes, not worker errors: logged without a traceback.
    throws = (IngestFailed, JobCancelled)
    max_retries = MAX_RETRIES
    retry_backoff = True  # 1 s, 2 s, 4 s
    retry_backoff_max = 60
    retry_jitter = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Unavailable as outage:
            countdown = min(2 ** self.request.retries, OUTAGE_RETRY_MAX_SECONDS)
            raise self.retry(exc=outage, countdown=countdown, max_retries=OUTAGE_RETRIES) from None

    def on_failure(self, exc: Exception, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                   einfo: Any) -> None:
        job_id = uuid.UUID(args[0])
        if isinstance(exc, JobCancelled):
            log.info("job %s: %s stopped, the job ended (cancelled?)", job_id, self.name)
            return
        if isinstance(exc, IngestFailed):
            reason, message = exc.reason, exc.message
        else:
            # The job's message is shown to admins: an error id, never the exception's text (it may
            # quote a database message). The log line with that id holds the whole story.
            error_id = uuid.uuid4().hex
            log.error("job %s: %s failed for good (error id %s)", job_id, self.name, error_id, exc_info=exc)
            reason = FailureReason.INTERNAL
            message = f"internal error while ingesting (error id {error_id}); retry the upload"
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


# --- the outbox relay, in the worker's main process ---------------------------------------------

_relay: OutboxRelay | None = None


def _start_relay(worker_name: str) -> None:
    global _relay
    # A pool of its own (the task processes' pools are per process, created after the fork).
    pool = content_pool(settings.model_copy(update={"db_pool_min_size": 1, "db_pool_max_size": 2}),
                        name="ingest-relay")
    _relay = OutboxRelay(pool, CeleryDispatcher(), worker=worker_name)
    _relay.start()


@worker_ready.connect  # type: ignore[untyped-decorator]
def _on_worker_ready(sender: Any = None, **_kwargs: Any) -> None:
    worker_name = getattr(sender, "hostname", None) or "worker"
    # In a thread: the database may still be starting, and the worker must not wait for it.
    threading.Thread(target=_start_relay, args=(worker_name,), name="ingest-relay-start", daemon=True).start()


@worker_shutdown.connect  # type: ignore[untyped-decorator]
def _on_worker_shutdown(**_kwargs: Any) -> None:
    if _relay is not None:
        _relay.stop()
