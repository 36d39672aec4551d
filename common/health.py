"""Health that means something: a service's gRPC health follows the dependencies it needs.

A background probe per dependency (a database, Redis, object storage) checks it every
`HEALTH_PROBE_SECONDS`; a check that raises, or does not return within
`HEALTH_PROBE_TIMEOUT_SECONDS` (a frozen server), marks the dependency down. The monitor publishes:

- `""` and the service's own name: SERVING while every *required* dependency is up, else
  NOT_SERVING (Envoy's active health checks then route around this replica);
- `dependency/<name>` for every dependency, optional ones included: a degraded service (content
  without its Redis cache) keeps serving and says what it is missing.

`grpc.health.v1.Health/List` answers all of them at once: the readiness view (docs/failures.md).
Probes only observe; calls never wait for them (a call fails fast by itself: common.db).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2

log = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
DEPENDENCY_PREFIX = "dependency/"


@dataclass(frozen=True)
class Dependency:
    """Something a service calls. `check` returns when it is usable and raises when it is not."""

    name: str
    check: Callable[[], None]
    # Required: the service cannot answer without it. Optional: it answers, degraded (a cache).
    required: bool = True

    @property
    def health_name(self) -> str:
        return DEPENDENCY_PREFIX + self.name


class HealthServicer(health.HealthServicer):
    """grpc's health servicer plus `List`, which its Python implementation leaves unimplemented."""

    def List(self, request: Any, context: grpc.ServicerContext) -> Any:
        # `_server_status` and `_lock` are what grpc's own Check reads; there is no public accessor.
        with self._lock:  # type: ignore[attr-defined]
            statuses = dict(self._server_status)  # type: ignore[attr-defined]
        return health_pb2.HealthListResponse(  # type: ignore[attr-defined]
            statuses={name: health_pb2.HealthCheckResponse(status=status) for name, status in statuses.items()}
        )


class _Probe:
    """Runs one dependency's check in a loop on its own thread; a hung check counts as a failure."""

    def __init__(self, dependency: Dependency, interval: float, timeout: float, stop: threading.Event) -> None:
        self.dependency = dependency
        self._interval = interval
        self._timeout = timeout
        self._stop = stop
        self._lock = threading.Lock()
        self._up: bool | None = None  # unknown until the first check returns
        self._error = ""
        self._started: float | None = None
        self._thread = threading.Thread(target=self._run, name=f"probe-{dependency.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                self._started = time.monotonic()
            try:
                self.dependency.check()
            except Exception as error:  # whatever the client library raises, the dependency is unusable
                up, message = False, f"{type(error).__name__}: {error}"
            else:
                up, message = True, ""
            with self._lock:
                self._up, self._error, self._started = up, message, None
            self._stop.wait(self._interval)

    def state(self) -> tuple[bool | None, str]:
        """(up, why not); a check running for longer than the timeout means down."""
        with self._lock:
            if self._started is not None and time.monotonic() - self._started > self._timeout:
                return False, f"no answer within {self._timeout:g}s"
            return self._up, self._error


class HealthMonitor:
    """Keeps a HealthServicer's statuses in step with the service's dependencies."""

    def __init__(
        self,
        servicer: health.HealthServicer,
        service_names: Sequence[str],
        dependencies: Sequence[Dependency],
        *,
        interval: float = 1.0,
        timeout: float = 2.0,
    ) -> None:
        self._servicer = servicer
        self._service_names = ["", *service_names]
        self._interval = interval
        self._stop = threading.Event()
        self._probes = [_Probe(d, interval, timeout, self._stop) for d in dependencies]
        self._published: dict[str, int] = {}
        self._down_since: dict[str, float] = {}
        self._thread = threading.Thread(target=self._run, name="health-monitor", daemon=True)

    def start(self, first_check_within: float = 5.0) -> None:
        """Start the probes and publish their first results (waiting up to `first_check_within`)."""
        for probe in self._probes:
            probe.start()
        deadline = time.monotonic() + first_check_within
        while any(p.state()[0] is None for p in self._probes) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.publish()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._interval / 2):
            self.publish()

    def publish(self) -> None:
        all_required_up = True
        for probe in self._probes:
            up, why = probe.state()
            dependency = probe.dependency
            self._set(dependency.health_name, SERVING if up else NOT_SERVING)
            self._log_transition(dependency, bool(up), why)
            if dependency.required and not up:
                all_required_up = False
        for name in self._service_names:
            self._set(name, SERVING if all_required_up else NOT_SERVING)

    def _set(self, name: str, status: int) -> None:
        if self._published.get(name) != status:
            self._published[name] = status
            self._servicer.set(name, status)  # type: ignore[arg-type]

    def _log_transition(self, dependency: Dependency, up: bool, why: str) -> None:
        name = dependency.name
        if not up and name not in self._down_since:
            self._down_since[name] = time.monotonic()
            effect = "NOT_SERVING until it is back" if dependency.required else "serving degraded"
            log.warning("dependency %s is down (%s): %s", name, why, effect)
        elif up and name in self._down_since:
            log.info("dependency %s is back after %.1fs", name, time.monotonic() - self._down_since.pop(name))
