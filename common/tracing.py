"""OpenTelemetry tracing with W3C trace context (`traceparent`), configured by the standard OTEL_* names.

Off unless asked for:
- `OTEL_TRACES_EXPORTER=otlp`, or an OTLP endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318`
  or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`): spans go to a collector over OTLP/HTTP (protobuf);
- `OTEL_TRACES_EXPORTER=console`: one JSON line per span on stdout (the process' log);
- `OTEL_TRACES_EXPORTER=none` or `OTEL_SDK_DISABLED=true`: off whatever else is set.
The SDK reads the rest itself (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER,
OTEL_BSP_SCHEDULE_DELAY, OTEL_EXPORTER_OTLP_HEADERS, ...).

When on, a process traces its RPCs (common.telemetry starts a server span per call, continuing the
caller's trace), its SQL (every psycopg cursor's execute), its outgoing gRPC calls, and in the
ingest service and worker the Celery tasks (ingest_svc.telemetry): one upload is one trace from
Envoy through UploadBook to the last task that loads the book.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence

from opentelemetry import context, trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes

from common.settings import ConfigurationError

log = logging.getLogger(__name__)

_propagator = TraceContextTextMapPropagator()
_provider: trace.TracerProvider | None = None
_tracer: trace.Tracer | None = None


def exporter_name(env: Mapping[str, str] = os.environ) -> str | None:
    """"otlp", "console", or None when tracing is off (see the module's docstring)."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    chosen = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not chosen:
        endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        return "otlp" if endpoint else None
    if chosen == "none":
        return None
    if chosen not in ("otlp", "console"):
        raise ConfigurationError(f"OTEL_TRACES_EXPORTER={chosen!r}: this suite exports to otlp or console (or none)")
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or ""
    if chosen == "otlp" and protocol not in ("", "http/protobuf"):
        raise ConfigurationError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: this suite exports OTLP over HTTP "
                                 "(http/protobuf; a collector's port 4318)")
    return chosen


def enabled() -> bool:
    return _provider is not None


def setup_tracing(service: str, env: Mapping[str, str] = os.environ) -> bool:
    """Install this process' tracer provider and instrument psycopg and gRPC clients; False when off.

    `service` is the service.name unless OTEL_SERVICE_NAME says otherwise. Call it once per process,
    before any pool or channel is created (instrumentation wraps their constructors).
    """
    global _provider, _tracer
    exporter_kind = exporter_name(env)
    if exporter_kind is None or _provider is not None:
        return _provider is not None
    from opentelemetry.instrumentation.grpc import GrpcInstrumentorClient
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
    from opentelemetry.sdk.trace.sampling import ParentBased

    exporter: SpanExporter
    if exporter_kind == "console":
        exporter = ConsoleSpanExporter(formatter=lambda span: span.to_json(indent=None) + "\n")
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    named = env.get("OTEL_SERVICE_NAME") or "service.name=" in env.get("OTEL_RESOURCE_ATTRIBUTES", "")
    # OTEL_TRACES_SAMPLER, when set, is the SDK's business; ours starts traces only where work enters.
    sampler = None if env.get("OTEL_TRACES_SAMPLER") else ParentBased(_EntryPointsOnly())
    provider = TracerProvider(resource=Resource.create({} if named else {"service.name": service}), sampler=sampler)
    # Batched and exported by a thread of the SDK (re-created in a forked child, such as a Celery
    # pool process), off the request's path.
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    PsycopgInstrumentor().instrument(tracer_provider=provider)
    GrpcInstrumentorClient().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    _provider, _tracer = provider, provider.get_tracer(__name__)
    log.info("tracing on: %s exporter, service.name %s", exporter_kind, provider.resource.attributes["service.name"])
    return True


class _EntryPointsOnly(Sampler):
    """Roots only where work enters the suite: a call served, a task published or run. SQL with no
    trace around it (migrations, health probes, sweeps, metrics scrapes) starts none of its own."""

    _ENTRY_KINDS = frozenset({SpanKind.SERVER, SpanKind.CONSUMER, SpanKind.PRODUCER})

    def should_sample(self, parent_context: Context | None, trace_id: int, name: str,
                      kind: SpanKind | None = None, attributes: Attributes = None, links: Sequence[Link] | None = None,
                      trace_state: TraceState | None = None) -> SamplingResult:
        if kind in self._ENTRY_KINDS:
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, trace_state)
        return SamplingResult(Decision.DROP, None, trace_state)

    def get_description(self) -> str:
        return "EntryPointsOnly"


def flush(timeout_seconds: float = 5.0) -> None:
    """Export the spans still batched (before a process ends; Celery's pool processes skip atexit)."""
    if _provider is not None:
        _provider.force_flush(int(timeout_seconds * 1000))  # type: ignore[attr-defined]


def tracer() -> trace.Tracer:
    """The suite's tracer (the no-op tracer until `setup_tracing` installed a provider)."""
    return _tracer if _tracer is not None else trace.get_tracer(__name__)


def current_context() -> dict[str, str]:
    """The current trace as W3C headers (`traceparent`, `tracestate`), to keep with work that another
    thread or process does later (an outbox entry); empty outside a trace."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier


@contextlib.contextmanager
def continuing(carrier: Mapping[str, str] | None) -> Iterator[None]:
    """Run the block inside the trace `carrier` (from current_context) names, if any."""
    if not carrier:
        yield
        return
    token = context.attach(_propagator.extract(dict(carrier)))
    try:
        yield
    finally:
        context.detach(token)
