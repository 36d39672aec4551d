"""Prometheus metrics: what every process of the suite counts, and the HTTP endpoint that serves them.

Each service process and the Celery worker serve `http://<BIND_HOST>:<NAME>_METRICS_PORT/metrics`
(CONTENT_METRICS_PORT, USER_METRICS_PORT, INGEST_METRICS_PORT, REFLECTION_METRICS_PORT,
WORKER_METRICS_PORT; 0 = off). What the metrics mean: docs/operations.md.

Several processes, one view: when PROMETHEUS_MULTIPROC_DIR names a folder, prometheus_client keeps
every value in a file there per process and the endpoint sums the files of every process that wrote
to it (prometheus_client's multiprocess mode). The Celery worker needs it (its prefork pool is
several processes, and any of them may run a task); the embedded stack gives every process a fresh
folder of its own. Whoever sets the variable empties the folder before the processes start, and a
process that ends marks itself dead (`mark_process_dead`) so the gauges it kept stop counting.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess, start_http_server
from prometheus_client.registry import Collector

from common.settings import ConfigurationError

log = logging.getLogger(__name__)

MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

# Latency buckets in seconds: our unary calls take about a millisecond, uploads and watches minutes.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

# -- RPCs (the names and labels of go-grpc-prometheus, which dashboards for gRPC servers expect) ----

RPCS_HANDLED = Counter(
    "grpc_server_handled", "RPCs completed on the server, by status code.",
    ["grpc_service", "grpc_method", "grpc_type", "grpc_code"],
)
RPC_SECONDS = Histogram(
    "grpc_server_handling_seconds", "Time from the start of an RPC's handler to its status, in seconds.",
    ["grpc_service", "grpc_method", "grpc_type"], buckets=LATENCY_BUCKETS,
)

# -- database pools (psycopg_pool's own statistics, sampled every POOL_SAMPLE_SECONDS) -------------

POOL_SAMPLE_SECONDS = 1.0
POOL_CONNECTIONS = Gauge("db_pool_connections", "Connections the pool holds (in use or idle).", ["pool"],
                         multiprocess_mode="livesum")
POOL_IDLE = Gauge("db_pool_idle_connections", "Idle connections ready to be handed out.", ["pool"],
                  multiprocess_mode="livesum")
POOL_MAX = Gauge("db_pool_max_connections", "The most connections the pool may open.", ["pool"],
                 multiprocess_mode="livesum")
POOL_WAITING = Gauge("db_pool_waiting_requests", "Requests waiting for a connection right now.", ["pool"],
                     multiprocess_mode="livesum")
POOL_REQUESTS = Counter("db_pool_requests", "Connections asked of the pool.", ["pool"])
POOL_WAITS = Counter("db_pool_waits", "Requests that had to wait for a connection (none was idle).", ["pool"])
POOL_WAIT_SECONDS = Counter("db_pool_wait_seconds", "Time requests spent waiting for a connection.", ["pool"])
POOL_TIMEOUTS = Counter("db_pool_timeouts", "Requests that got no connection (timed out or refused).", ["pool"])
POOL_CONNECTION_ERRORS = Counter("db_pool_connection_errors", "Failed attempts to open a connection.", ["pool"])
POOL_CONNECTIONS_LOST = Counter("db_pool_connections_lost", "Connections found broken on checkout.", ["pool"])

# psycopg_pool's counters (get_stats) and the metric each one adds to, with its unit's scale.
_POOL_COUNTERS: dict[str, tuple[Counter, float]] = {
    "requests_num": (POOL_REQUESTS, 1.0),
    "requests_queued": (POOL_WAITS, 1.0),
    "requests_wait_ms": (POOL_WAIT_SECONDS, 0.001),
    "requests_errors": (POOL_TIMEOUTS, 1.0),
    "connections_errors": (POOL_CONNECTION_ERRORS, 1.0),
    "connections_lost": (POOL_CONNECTIONS_LOST, 1.0),
}
_POOL_GAUGES: dict[str, Gauge] = {
    "pool_size": POOL_CONNECTIONS,
    "pool_available": POOL_IDLE,
    "pool_max": POOL_MAX,
    "requests_waiting": POOL_WAITING,
}

# -- caches (ContentService's Redis read cache) ----------------------------------------------------

CACHE_LOOKUPS = Counter("cache_lookups", "Read-cache lookups by result: hit, miss, or error (Redis failed).",
                        ["cache", "result"])


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_DIR_VARIABLE) or None


def serve_metrics(host: str, port: int, *extra: Collector) -> None:
    """Serve /metrics on `host:port` (0 = off): this process' metrics, or in multiprocess mode those
    of every process sharing the folder; `extra` collectors are asked at each scrape."""
    if port == 0:
        return
    folder = multiprocess_dir()
    registry: CollectorRegistry = REGISTRY
    if folder is not None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
    for collector in extra:
        registry.register(collector)
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as error:
        raise ConfigurationError(f"cannot serve metrics on {host}:{port} ({error}); is the port in use?") from None
    log.info("metrics on http://%s:%d/metrics%s", host, port, f" (every process of {folder})" if folder else "")


def process_ended(pid: int | None = None) -> None:
    """In multiprocess mode: the live gauges of process `pid` (default: this one) stop counting."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(pid if pid is not None else os.getpid())  # type: ignore[no-untyped-call]


# -- pool sampling ---------------------------------------------------------------------------------


class _PoolSampler:
    """Copies psycopg_pool's statistics of every observed pool into the metrics, once a second.

    A thread, not a collector asked at scrape time: in multiprocess mode the process that answers a
    scrape is not the one that owns the pool. It reads `get_stats` (and keeps the last counts to add
    only what changed) rather than `pop_stats`, so nothing else reading the statistics is disturbed.
    """

    def __init__(self) -> None:
        self._pools: weakref.WeakKeyDictionary[Any, dict[str, int]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._pid = 0

    def observe(self, pool: Any) -> None:
        for counter, _scale in _POOL_COUNTERS.values():
            counter.labels(pool.name)  # reported from the start, at zero until it happens
        with self._lock:
            self._pools[pool] = {}
            # A forked child (a Celery pool process) inherits the pools but not the thread.
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="metrics-pools", daemon=True).start()

    def sample(self) -> None:
        with self._lock:
            pools = list(self._pools.items())
        for pool, last in pools:
            stats: dict[str, int] = pool.get_stats()
            for key, (counter, scale) in _POOL_COUNTERS.items():
                count, before = stats.get(key, 0), last.get(key, 0)
                if count != before:
                    added = count - before if count > before else count  # smaller: someone popped them
                    counter.labels(pool.name).inc(added * scale)
                    last[key] = count
            for key, gauge in _POOL_GAUGES.items():
                gauge.labels(pool.name).set(stats.get(key, 0))

    def _run(self) -> None:
        while True:
            try:
                self.sample()
            except Exception:  # a metrics bug must never take the process down
                log.exception("sampling the connection pools failed")
            time.sleep(POOL_SAMPLE_SECONDS)


_sampler = _PoolSampler()


def observe_pool(pool: Any) -> None:
    """Report a psycopg_pool pool's size, waits and timeouts (`db_pool_*{pool=<its name>}`)."""
    _sampler.observe(pool)
