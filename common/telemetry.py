"""A process' telemetry (logs, metrics, traces) and what the interceptor records about every RPC.

Per RPC (`RpcObserver.begin` ... `RpcCall.end`, called by common.interceptor around the handler):
- the counter and latency histogram of common.metrics, by service, method and status code;
- a server span continuing the caller's W3C trace context (`traceparent` metadata, which Envoy
  passes on or starts), when tracing is on. When it is off, the call still gets the caller's trace id,
  or a fresh one, so every log line written while serving it carries the same `trace_id`;
- one access log line (common.logs): method, status, duration, trace id and the hashed user id.
Health checks are counted, but neither traced nor logged (but at DEBUG): probes would flood both.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable
from typing import Any

import grpc
from opentelemetry import context, trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from common import logs, metrics, tracing
from common.auth import Identity
from common.settings import Settings

access_log = logging.getLogger(logs.ACCESS_LOGGER)

PROBE_PREFIX = "/grpc.health.v1.Health/"
_TYPES = {(False, False): "unary", (True, False): "client_stream", (False, True): "server_stream",
          (True, True): "bidi_stream"}
_propagator = TraceContextTextMapPropagator()


def start_process(settings: Settings, service: str, metrics_port: int) -> None:
    """Logs as JSON, tracing when configured, metrics on `metrics_port` (0 = off): first thing a
    process does, before it opens pools or channels (tracing instruments their constructors)."""
    logs.configure_logging(settings, service)
    tracing.setup_tracing(service)
    metrics.serve_metrics(settings.bind_host, metrics_port)


def end_process() -> None:
    tracing.flush()
    metrics.process_ended()


class _Method:
    """What one RPC method's calls share: labels and the metric children they select."""

    def __init__(self, method: str, grpc_type: str) -> None:
        self.name = method
        self.service, _, self.short_name = method.lstrip("/").rpartition("/")
        self.grpc_type = grpc_type
        self.seconds = metrics.RPC_SECONDS.labels(self.service, self.short_name, grpc_type)
        self._handled: dict[grpc.StatusCode, Any] = {}
        self.probe = method.startswith(PROBE_PREFIX)
        self.log_level = logging.DEBUG if self.probe else logging.INFO
        self.span_attributes = {"rpc.system": "grpc", "rpc.service": self.service, "rpc.method": self.short_name}

    def handled(self, code: grpc.StatusCode) -> Any:
        child = self._handled.get(code)
        if child is None:
            child = self._handled[code] = metrics.RPCS_HANDLED.labels(self.service, self.short_name, self.grpc_type,
                                                                       code.name)
        return child


class RpcObserver:
    def __init__(self) -> None:
        self._methods: dict[tuple[str, bool, bool], _Method] = {}

    def begin(self, method: str, streams: tuple[bool, bool], metadata: Iterable[tuple[str, Any]] | None,
              identity: Identity | None) -> RpcCall:
        key = (method, *streams)
        known = self._methods.get(key)
        if known is None:
            known = self._methods[key] = _Method(method, _TYPES[streams])
        return RpcCall(known, metadata, identity)


class RpcCall:
    __slots__ = ("_attached", "_identity", "_method", "_span", "_start", "_token")

    def __init__(self, method: _Method, metadata: Iterable[tuple[str, Any]] | None, identity: Identity | None) -> None:
        self._method = method
        self._identity = identity
        carrier = {key: value for key, value in metadata or () if key in ("traceparent", "tracestate")}
        parent = _propagator.extract(carrier) if carrier else context.Context()
        self._span: trace.Span
        if tracing.enabled() and not method.probe:
            self._span = tracing.tracer().start_span(method.name.lstrip("/"), parent, SpanKind.SERVER,
                                                     method.span_attributes)
        else:
            self._span = trace.get_current_span(parent)
            if not self._span.get_span_context().is_valid:
                # No tracing and no caller's trace: an id of the call's own, so its log lines share one.
                self._span = NonRecordingSpan(SpanContext(random.getrandbits(128), random.getrandbits(64),
                                                          is_remote=False, trace_flags=TraceFlags(TraceFlags.DEFAULT)))
        self._attached = trace.set_span_in_context(self._span, parent)
        self._token = context.attach(self._attached)
        self._start = time.perf_counter()

    def end(self, grpc_context: grpc.ServicerContext) -> None:
        seconds = time.perf_counter() - self._start
        code = _status_code(grpc_context)
        method = self._method
        method.handled(code).inc()
        method.seconds.observe(seconds)
        try:
            if self._span.is_recording():
                self._span.set_attribute("rpc.grpc.status_code", code.value[0])
                if code is not grpc.StatusCode.OK:
                    self._span.set_status(Status(StatusCode.ERROR, code.name))
                self._span.end()
            if access_log.isEnabledFor(method.log_level):
                logs.access(method.log_level, f"{method.name} {code.name} {seconds * 1000:.2f} ms", {
                    "method": method.name, "status": code.name, "duration_ms": round(seconds * 1000, 3),
                    "user": logs.hashed_user(self._identity.user_id) if self._identity is not None else None,
                })
        finally:
            # A stream's generator finalised in another context (a cancelled call) has nothing to restore.
            if context.get_current() is self._attached:
                context.detach(self._token)


def _status_code(grpc_context: grpc.ServicerContext) -> grpc.StatusCode:
    """The call's status: what the handler or the interceptor set, CANCELLED when the client left."""
    code = grpc_context.code()  # type: ignore[attr-defined]  # grpc's servicer context has it since 1.38
    if code is None:
        return grpc.StatusCode.OK if grpc_context.is_active() else grpc.StatusCode.CANCELLED
    return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN
