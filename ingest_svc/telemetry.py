"""The Celery worker's telemetry: JSON logs, Prometheus metrics, and tracing of the ingest tasks.

`instrument_celery(app)` (ingest_svc.worker calls it) wires it into Celery:
- logs: the worker's processes log JSON like the services (common.logs), service "IngestWorker";
- metrics: the worker's main process serves WORKER_METRICS_PORT (0 = off) for all of its pool
  processes, so it needs PROMETHEUS_MULTIPROC_DIR (an empty folder; the worker refuses to start
  without one). Task durations by task and outcome, retries and pages (Celery's task signals, in
  the pool processes), and at each scrape the queue's depth (Redis) and the jobs in each state
  (Postgres); the pools' statistics come from common.metrics;
- traces: when tracing is configured (common.tracing), Celery's task messages carry the W3C trace
  context of whoever published them (opentelemetry-instrumentation-celery): UploadBook's span in the
  ingest service, or the task that dispatched the next step, so one upload is one trace.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import redis
from celery import Celery, bootsteps
from celery.signals import (
    celeryd_init,
    setup_logging,
    task_postrun,
    task_prerun,
    task_retry,
    worker_process_shutdown,
)
from opentelemetry.instrumentation.utils import suppress_instrumentation
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from common import logs, metrics, tracing
from common.settings import ConfigurationError, get_settings
from ingest_svc import repository

log = logging.getLogger(__name__)

SERVICE = "IngestWorker"
PROCESS_RANGE = "ingest.process_range"
SCRAPE_TIMEOUT_SECONDS = 2
# kombu's Redis transport keeps a queue as a list of its name, and messages sent with a priority in
# lists named `<queue>\x06\x16<step>` (its default priority steps).
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")

TASK_SECONDS = Histogram("ingest_task_seconds", "Ingest task run time by task and outcome (SUCCESS, FAILURE, RETRY).",
                         ["task", "state"], buckets=metrics.LATENCY_BUCKETS)
TASK_RETRIES = Counter("ingest_task_retries", "Ingest task retries (a transient error), by task.", ["task"])
PAGES = Counter("ingest_pages", "PDF pages parsed, embedded and stored (its rate: pages per second).")

_started: dict[str, float] = {}


def instrument_celery(app: Celery) -> None:
    # As early as the worker lets us (its first warnings come right after), and instead of its own.
    celeryd_init.connect(_configure_logging, weak=False)
    setup_logging.connect(_configure_logging, weak=False)
    task_prerun.connect(_task_started, weak=False)
    task_postrun.connect(_task_ended, weak=False)
    task_retry.connect(_task_retried, weak=False)
    worker_process_shutdown.connect(_pool_process_ended, weak=False)
    app.steps["worker"].add(MetricsAndTracing)
    if tracing.exporter_name() is not None:
        # Here (imported by the ingest service too): publishing a task injects the publisher's trace
        # context into the message, running one continues it. The tracer provider comes later.
        from opentelemetry.instrumentation.celery import CeleryInstrumentor

        CeleryInstrumentor().instrument()  # type: ignore[no-untyped-call]


class MetricsAndTracing(bootsteps.StartStopStep):  # type: ignore[misc]
    """In the worker's main process, before its pool starts: the tracer provider (inherited by the
    pool processes) and the metrics endpoint; an error here stops the worker with a message."""

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        tracing.setup_tracing(SERVICE)

    def start(self, worker: Any) -> None:
        settings = get_settings()
        if settings.worker_metrics_port and metrics.multiprocess_dir() is None:
            raise ConfigurationError(
                f"WORKER_METRICS_PORT={settings.worker_metrics_port} needs {metrics.MULTIPROC_DIR_VARIABLE}: an "
                "empty folder where the worker's pool processes keep their metrics (or WORKER_METRICS_PORT=0)"
            )
        metrics.serve_metrics(settings.bind_host, settings.worker_metrics_port,
                              QueueDepth(worker.app), JobsByState(settings.content_conninfo()))

    def stop(self, worker: Any) -> None:
        tracing.flush()
        metrics.process_ended()


def _configure_logging(loglevel: int | str | None = None, options: dict[str, Any] | None = None,
                       **_kwargs: Any) -> None:
    """From the level the worker was started with (`--loglevel`), as Celery itself would."""
    logs.configure_logging(get_settings(), SERVICE, loglevel or (options or {}).get("loglevel"))


# -- task signals (in the pool process that runs the task) ----------------------------------------


def _task_started(task_id: str, **_kwargs: Any) -> None:
    _started[task_id] = time.perf_counter()


def _task_ended(task_id: str, task: Any, args: tuple[Any, ...], state: str | None = None, **_kwargs: Any) -> None:
    started = _started.pop(task_id, None)
    if started is not None:
        TASK_SECONDS.labels(task.name, state or "UNKNOWN").observe(time.perf_counter() - started)
    if task.name == PROCESS_RANGE and state == "SUCCESS":
        _job_id, first_page, last_page = args
        PAGES.inc(last_page - first_page + 1)


def _task_retried(sender: Any = None, **_kwargs: Any) -> None:
    TASK_RETRIES.labels(getattr(sender, "name", "unknown")).inc()


def _pool_process_ended(pid: int, **_kwargs: Any) -> None:
    tracing.flush()
    metrics.process_ended(pid)


# -- asked at each scrape (in the main process) ---------------------------------------------------


class QueueDepth(Collector):
    def __init__(self, app: Celery) -> None:
        self._queue = app.conf.task_default_queue
        self._client = redis.Redis.from_url(app.conf.broker_url, socket_timeout=SCRAPE_TIMEOUT_SECONDS,
                                            socket_connect_timeout=SCRAPE_TIMEOUT_SECONDS)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            with self._client.pipeline(transaction=False) as pipe:
                for suffix in _PRIORITY_SUFFIXES:
                    pipe.llen(self._queue + suffix)
                depth = sum(pipe.execute())
        except (redis.RedisError, OSError) as error:
            log.warning("queue depth unknown: %s", error)
            return
        yield GaugeMetricFamily("ingest_queue_depth", "Task messages waiting in the Celery queue (Redis).",
                                value=depth)


class JobsByState(Collector):
    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            # A scrape is no work of the suite's: its SQL starts no trace.
            with suppress_instrumentation(), psycopg.connect(
                self._conninfo, autocommit=True, connect_timeout=SCRAPE_TIMEOUT_SECONDS,
                options=f"-c statement_timeout={SCRAPE_TIMEOUT_SECONDS * 1000}", application_name="worker-metrics",
            ) as conn:
                counts = repository.count_jobs_by_state(conn)
        except psycopg.Error as error:
            log.warning("jobs by state unknown: %s", error)
            return
        family = GaugeMetricFamily("ingest_jobs", "Ingest jobs in each state.", labels=["state"])
        for state, count in counts.items():
            family.add_metric([state.value], count)
        yield family
