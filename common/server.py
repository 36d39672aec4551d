"""Server bootstrap shared by the three services.

A sync `grpc.server` on a thread pool (measured faster than grpc.aio for our small unary calls),
with the auth interceptor, health checking for `""`, every service name and every dependency
(common.health), server reflection, message size limits, and a SIGTERM/SIGINT handler that drains
in-flight calls before exiting. Every process logs JSON, serves its metrics and traces when configured
(common.telemetry).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent import futures
from types import FrameType
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from common.auth import TokenVerifier, check_identity_settings
from common.health import Dependency, HealthMonitor, HealthServicer
from common.interceptor import AuthInterceptor
from common.migrations import Database, apply_migrations
from common.pagination import PageTokens
from common.settings import ConfigurationError, Settings, get_settings
from common.telemetry import end_process, start_process

# Every server's descriptor pool holds the whole suite's contracts, so reflection can resolve any of
# our symbols: grpcurl through Envoy (whose reflection route reaches one server) can describe and
# call all three services.
from teaching.content.v1 import content_service_pb2 as _content  # noqa: F401
from teaching.ingest.v1 import ingest_service_pb2 as _ingest  # noqa: F401
from teaching.user.v1 import user_service_pb2 as _user  # noqa: F401

log = logging.getLogger(__name__)

Registrar = Callable[[grpc.Server], None]
MAX_METADATA_BYTES = 128 * 1024


class ServiceServer:
    """One gRPC server hosting one of our services plus health and reflection.

    Health is SERVING while every required dependency answers its probe (common.health).
    Reflection lists the server's own services unless `reflected` names others (the suite's
    reflection server lists every service behind the front).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        port: int,
        service_names: Sequence[str],
        register: Registrar,
        on_stop: Callable[[], None] | None = None,
        reflected: Sequence[str] | None = None,
        dependencies: Sequence[Dependency] = (),
        open_streams: int = 0,
        on_drain: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.service_names = list(service_names)
        self._on_stop = on_stop
        self._on_drain = on_drain
        self._stopped = threading.Event()
        options = [
            ("grpc.max_receive_message_length", settings.grpc_max_message_bytes),
            ("grpc.max_send_message_length", settings.grpc_max_message_bytes),
            ("grpc.so_reuseport", 0),
            # Envoy accepts 60 KiB of request headers and forwards a transcoded request's URL twice
            # (x-envoy-original-path): grpc's default limits (8 KiB soft, 16 KiB hard) would refuse a
            # long but legitimate URL with a bare RESOURCE_EXHAUSTED before our handler could answer.
            ("grpc.max_metadata_size", MAX_METADATA_BYTES),
            ("grpc.absolute_max_metadata_size", MAX_METADATA_BYTES),
        ]
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=settings.grpc_max_workers),
            interceptors=[AuthInterceptor(TokenVerifier(settings))],
            options=options,
            # Calls queue for a thread up to 4 per thread, beyond which grpc refuses them at once;
            # non-blocking streams (`open_streams` at most) hold no thread and count apart.
            maximum_concurrent_rpcs=settings.grpc_max_workers * 4 + open_streams,
        )
        register(self.server)
        self.health = HealthServicer(experimental_non_blocking=True)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.monitor = HealthMonitor(
            self.health, self.service_names, dependencies,
            interval=settings.health_probe_seconds, timeout=settings.health_probe_timeout_seconds,
        )
        listed = self.service_names if reflected is None else list(reflected)
        reflection.enable_server_reflection([*listed, health.SERVICE_NAME, reflection.SERVICE_NAME], self.server)
        address = f"{settings.bind_host}:{port}"
        self.port = self.server.add_insecure_port(address)
        if self.port == 0:
            raise RuntimeError(f"cannot listen on {address}: is the port in use?")

    def start(self) -> None:
        # The probes' first results are published before the first call is accepted.
        self.monitor.start()
        self.server.start()
        served = ", ".join(self.service_names) or "reflection"
        log.info("serving %s on %s:%d", served, self.settings.bind_host, self.port)

    def stop(self) -> None:
        """Refuse new calls, let in-flight ones finish within the grace period, then release resources."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.monitor.stop()
        self.health.enter_graceful_shutdown()
        if self._on_drain is not None:
            self._on_drain()  # long-lived streams end now rather than at the end of the grace period
        self.server.stop(self.settings.shutdown_grace_seconds).wait()
        if self._on_stop is not None:
            self._on_stop()
        log.info("stopped %s", ", ".join(self.service_names))
        end_process()

    def serve_forever(self) -> None:
        """Start, then block until SIGTERM or SIGINT and shut down gracefully."""

        def handle(signum: int, _frame: FrameType | None) -> None:
            log.info("received signal %d, draining", signum)
            threading.Thread(target=self.stop, daemon=True).start()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)
        self.start()
        self.server.wait_for_termination()
        self._stopped.wait()


class ServiceResources(contextlib.ExitStack):
    """What a service's build opened (closed once the server stopped), and the long-lived streams
    it serves (room for them in the server, and how to end them when the server drains)."""

    def __init__(self) -> None:
        super().__init__()
        self.open_streams = 0
        self._drains: list[Callable[[], None]] = []

    def serve_streams(self, limit: int, drain: Callable[[], None]) -> None:
        """Up to `limit` non-blocking streams at once; `drain` ends them all when draining begins."""
        self.open_streams += limit
        self._drains.append(drain)

    def drain(self) -> None:
        for drain in self._drains:
            drain()


# A servicer factory: builds the service's servicer from settings, entering what must be closed on
# shutdown (pools, caches) into the resources.
BuildServicer = Callable[[Settings, ServiceResources], Any]
AddServicer = Callable[[Any, grpc.Server], None]
# What a service calls, for its health: built from settings, probed in the background.
Dependencies = Callable[[Settings], Sequence[Dependency]]


def run_service(
    service: ServiceDescriptor,
    add_servicer: AddServicer,
    build: BuildServicer,
    *,
    port: Callable[[Settings], int],
    metrics_port: Callable[[Settings], int],
    migrate: Database | None = None,
    dependencies: Dependencies | None = None,
) -> None:
    """The whole life of a service process: settings, telemetry, migrations, serve until SIGTERM, close.

    Every service's `__main__` is one call of this, e.g.
    `run_service(DESCRIPTOR.services_by_name["UserService"], add_UserServiceServicer_to_server, build,
    port=lambda s: s.user_port, metrics_port=lambda s: s.user_metrics_port, migrate="user")`.
    """
    settings = get_settings()
    try:
        check_identity_settings(settings)
        PageTokens.from_settings(settings)
        start_process(settings, service.name, metrics_port(settings))
    except ConfigurationError as error:
        # Before any database is touched: without keys no caller can be verified, no page token trusted.
        raise SystemExit(f"{service.name} refuses to start: {error}") from None
    if migrate is not None:
        apply_migrations(migrate, settings)
    with ServiceResources() as resources:
        servicer = build(settings, resources)
        ServiceServer(
            settings,
            port=port(settings),
            service_names=[service.full_name],
            register=lambda server: add_servicer(servicer, server),
            dependencies=dependencies(settings) if dependencies is not None else (),
            open_streams=resources.open_streams,
            on_drain=resources.drain,
        ).serve_forever()
