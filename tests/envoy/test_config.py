"""The Envoy configuration: one source, two targets, both accepted by the real Envoy binary."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from google.protobuf import descriptor_pb2

from tests.envoy.conftest import ENVOY_BIN, REPO

DESCRIPTORS = REPO / "gen" / "descriptors.binpb"
COMPOSE_CONFIG = REPO / "envoy" / "envoy.compose.yaml"


def validate(config_text: str, tmp_path: Path) -> None:
    path = tmp_path / "envoy.yaml"
    path.write_text(config_text)
    result = subprocess.run([str(ENVOY_BIN), "--mode", "validate", "-c", str(path), "--log-level", "warn"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout + result.stderr


def embedded(render: ModuleType, **overrides: Any) -> str:
    arguments: dict[str, Any] = {
        "listen_host": "127.0.0.1",
        "listen_port": 18080,
        "admin_port": 19901,
        "content": [("127.0.0.1", 15051), ("127.0.0.1", 15151)],
        "user": [("127.0.0.1", 15052)],
        "ingest": [("127.0.0.1", 15053)],
        "reflection": ("127.0.0.1", 15054),
        "descriptor_path": str(DESCRIPTORS),
        "cors_origins": ["http://localhost:3000"],
    }
    arguments.update(overrides)
    text: str = render.render_envoy_config(**arguments)
    return text


def test_embedded_config_validates(render: ModuleType, tmp_path: Path) -> None:
    validate(embedded(render), tmp_path)


def test_compose_config_validates(render: ModuleType, tmp_path: Path) -> None:
    # The compose file names the descriptor where the container mounts it; point it at ours.
    committed = COMPOSE_CONFIG.read_text()
    assert render.COMPOSE_DESCRIPTOR_PATH in committed
    validate(committed.replace(render.COMPOSE_DESCRIPTOR_PATH, str(DESCRIPTORS)), tmp_path)


def test_committed_compose_config_is_the_renderer_output(render: ModuleType) -> None:
    assert COMPOSE_CONFIG.read_text() == render.render_compose(), (
        "envoy/envoy.compose.yaml is stale: run `python envoy/render.py --target compose > envoy/envoy.compose.yaml`"
    )


def test_both_targets_differ_only_in_addresses(render: ModuleType) -> None:
    # ... and in the statistics listener, which only compose needs (its admin port is unreachable).
    compose = yaml.safe_load(render.render_compose())
    local = yaml.safe_load(embedded(render, listen_host="0.0.0.0", listen_port=8080, admin_port=9901,
                                    content=[("content", 50051)], user=[("user", 50052)],
                                    ingest=[("ingest", 50053)], reflection=("reflection", 50054),
                                    descriptor_path=render.COMPOSE_DESCRIPTOR_PATH,
                                    cors_origins=render.DEFAULT_CORS_ORIGINS, stats_port=render.COMPOSE_STATS_PORT))
    assert compose == local


def test_a_broken_config_is_refused(render: ModuleType, tmp_path: Path) -> None:
    # The validation above can fail: a descriptor set without our services is rejected.
    empty = tmp_path / "empty.binpb"
    empty.write_bytes(descriptor_pb2.FileDescriptorSet().SerializeToString())
    path = tmp_path / "broken.yaml"
    path.write_text(embedded(render, descriptor_path=str(empty)))
    result = subprocess.run([str(ENVOY_BIN), "--mode", "validate", "-c", str(path), "--log-level", "warn"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0


def _filters(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    return {f["name"]: f["typed_config"] for f in manager["http_filters"]}


def _routes(config: dict[str, Any]) -> list[dict[str, Any]]:
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    routes: list[dict[str, Any]] = manager["route_config"]["virtual_hosts"][0]["routes"]
    return routes


def test_admin_listens_on_loopback_only(render: ModuleType) -> None:
    for config in (yaml.safe_load(render.render_compose()), yaml.safe_load(embedded(render))):
        assert config["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"


def test_transcoder_settings(render: ModuleType) -> None:
    transcoder = _filters(yaml.safe_load(embedded(render)))["envoy.filters.http.grpc_json_transcoder"]
    assert transcoder["print_options"]["preserve_proto_field_names"] is False
    assert transcoder["print_options"]["always_print_primitive_fields"] is True
    assert transcoder["convert_grpc_status"] is True
    assert transcoder["auto_mapping"] is False
    assert transcoder["max_request_body_size"] > 0


def test_filter_order_puts_cors_first_and_router_last(render: ModuleType) -> None:
    names = list(_filters(yaml.safe_load(embedded(render))))
    assert names == ["envoy.filters.http.cors", "envoy.filters.http.grpc_web", "envoy.filters.http.buffer",
                     "envoy.filters.http.grpc_json_transcoder", "envoy.filters.http.router"]


def test_streaming_routes_have_no_deadline_and_unary_ones_do(render: ModuleType) -> None:
    config = yaml.safe_load(embedded(render))
    routes = {r["match"].get("path") or r["match"].get("prefix"): r["route"] for r in _routes(config)}
    for method in ("UploadBook", "WatchIngestJob"):
        route = routes[f"/teaching.ingest.v1.IngestService/{method}"]
        assert route["timeout"] == "0s"
        assert route["idle_timeout"] != "0s"
    for service in ("teaching.content.v1.ContentService", "teaching.user.v1.UserService",
                    "teaching.ingest.v1.IngestService"):
        assert routes[f"/{service}/"]["timeout"] not in ("0s", None)


def test_every_upstream_is_http2_and_health_checked_by_service_name(render: ModuleType) -> None:
    clusters = yaml.safe_load(embedded(render))["static_resources"]["clusters"]
    # The reflection server hosts no service of its own: its health is the whole server's ("").
    expected = {"content": "teaching.content.v1.ContentService", "user": "teaching.user.v1.UserService",
                "ingest": "teaching.ingest.v1.IngestService", "reflection": ""}
    assert {c["name"]: c["health_checks"][0]["grpc_health_check"]["service_name"] for c in clusters} == expected
    for cluster in clusters:
        options = cluster["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
        assert "http2_protocol_options" in options["explicit_http_config"]


def test_descriptor_set_carries_the_services_and_error_detail_types() -> None:
    descriptor_set = descriptor_pb2.FileDescriptorSet()
    descriptor_set.ParseFromString(DESCRIPTORS.read_bytes())
    services = {f"{f.package}.{s.name}" for f in descriptor_set.file for s in f.service}
    messages = {f"{f.package}.{m.name}" for f in descriptor_set.file for m in f.message_type}
    assert {"teaching.content.v1.ContentService", "teaching.user.v1.UserService",
            "teaching.ingest.v1.IngestService"} <= services
    # Without these the transcoder cannot render google.rpc details and drops the JSON error body.
    assert {"google.rpc.Status", "google.rpc.BadRequest", "google.rpc.ResourceInfo"} <= messages


# -- replicas, retries, outlier detection -------------------------------------------------------------


def _route_for(render: ModuleType, path: str) -> dict[str, Any]:
    """The route Envoy picks for a gRPC path: the first whose match applies (what Envoy does too)."""
    import re

    for route in _routes(yaml.safe_load(embedded(render))):
        match = route["match"]
        if ("path" in match and match["path"] == path) or ("prefix" in match and path.startswith(match["prefix"])) \
                or ("safe_regex" in match and re.fullmatch(match["safe_regex"]["regex"], path)):
            return dict(route["route"])
    raise AssertionError(f"no route for {path}")


def _methods() -> list[tuple[str, str, str]]:
    """(service, method, HTTP verb of its google.api.http binding or "") for every RPC of the suite."""
    from google.api import annotations_pb2

    descriptor_set = descriptor_pb2.FileDescriptorSet()
    descriptor_set.ParseFromString(DESCRIPTORS.read_bytes())
    found = []
    for file in descriptor_set.file:
        if not file.package.startswith("teaching."):
            continue
        for service in file.service:
            for method in service.method:
                options = descriptor_pb2.MethodOptions()
                options.ParseFromString(method.options.SerializeToString())
                verb = options.Extensions[annotations_pb2.http].WhichOneof("pattern") or ""
                found.append((f"{file.package}.{service.name}", method.name, verb))
    return found


METHODS = _methods()


@pytest.mark.parametrize(("service", "method", "verb"), METHODS, ids=[m for _, m, _ in METHODS])
def test_reads_are_retried_after_a_reset_and_writes_only_when_unsent(
    render: ModuleType, service: str, method: str, verb: str
) -> None:
    # A read (bound to GET, or a Search or BatchGet) may be sent again whatever happened to the first attempt; a write
    # only when it never reached a server. Derived from the contracts, so a new RPC is covered.
    route = _route_for(render, f"/{service}/{method}")
    retry_on = set(route["retry_policy"]["retry_on"].split(","))
    assert {"connect-failure", "refused-stream"} <= retry_on
    is_read = verb == "get" or method.startswith(("Search", "BatchGet"))
    assert ("reset" in retry_on) == ("cancelled" in retry_on) == is_read, (method, verb, retry_on)
    assert route["cluster"] == service.split(".")[1]
    # Each retry goes to a replica not tried before for this request.
    predicates = [p["name"] for p in route["retry_policy"]["retry_host_predicate"]]
    assert predicates == ["envoy.retry_host_predicates.previous_hosts"]


def test_replicas_are_endpoints_of_one_cluster_with_outlier_detection(render: ModuleType) -> None:
    clusters = {c["name"]: c for c in yaml.safe_load(embedded(render))["static_resources"]["clusters"]}
    endpoints = clusters["content"]["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert [e["endpoint"]["address"]["socket_address"]["port_value"] for e in endpoints] == [15051, 15151]
    for name in ("content", "user", "ingest"):
        outlier = clusters[name]["outlier_detection"]
        # Refused connections and resets count as gateway failures, and ejecting on them is enforced.
        assert outlier["consecutive_gateway_failure"] >= 1
        assert outlier["enforcing_consecutive_gateway_failure"] == 100


def test_reflection_reaches_the_suite_reflection_server(render: ModuleType) -> None:
    for path in ("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                 "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"):
        route = _route_for(render, path)
        assert route["cluster"] == "reflection"
        assert route["timeout"] == "0s"


def test_cors_defaults_are_the_usual_local_dev_servers(render: ModuleType) -> None:
    expected = {f"http://{host}:{port}" for host in ("localhost", "127.0.0.1") for port in (3000, 5173, 8000)}
    assert set(render.DEFAULT_CORS_ORIGINS) == expected
    assert render.parse_cors_origins(None) == render.DEFAULT_CORS_ORIGINS
    assert render.parse_cors_origins("  ") == render.DEFAULT_CORS_ORIGINS
    assert render.parse_cors_origins("http://a.test:1, http://b.test:2") == ["http://a.test:1", "http://b.test:2"]
    compose = yaml.safe_load(COMPOSE_CONFIG.read_text())
    vhost = compose["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"][
        "route_config"]["virtual_hosts"][0]
    policy = vhost["typed_per_filter_config"]["envoy.filters.http.cors"]
    assert {m["exact"] for m in policy["allow_origin_string_match"]} == expected


@pytest.mark.parametrize("url", ["http://127.0.0.1:4318/v1/traces", "https://collector.example/v1/traces"],
                         ids=["http", "https"])
def test_tracing_to_an_otlp_collector_validates(render: ModuleType, tmp_path: Path, url: str) -> None:
    text = embedded(render, otlp_traces_url=url)
    validate(text, tmp_path)
    config = yaml.safe_load(text)
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    exporter = manager["tracing"]["provider"]["typed_config"]["http_service"]["http_uri"]
    assert exporter["uri"] == url
    [cluster] = [c for c in config["static_resources"]["clusters"] if c["name"] == exporter["cluster"]]
    assert ("transport_socket" in cluster) == url.startswith("https")


def test_without_a_collector_the_front_configures_no_tracer(render: ModuleType) -> None:
    # Envoy's tracer needs an exporter; without one, traceparent passes through to the services untouched.
    config = yaml.safe_load(embedded(render))
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    assert "tracing" not in manager


def test_compose_serves_envoys_statistics_and_nothing_else_of_the_admin_interface(render: ModuleType) -> None:
    config = yaml.safe_load(render.render_compose())
    [stats] = [listener for listener in config["static_resources"]["listeners"] if listener["name"] == "stats"]
    manager = stats["filter_chains"][0]["filters"][0]["typed_config"]
    [route] = [r for host in manager["route_config"]["virtual_hosts"] for r in host["routes"]]
    assert route["match"] == {"path": "/stats/prometheus"}
    [admin] = [c for c in config["static_resources"]["clusters"] if c["name"] == route["route"]["cluster"]]
    address = admin["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    assert address == config["admin"]["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 9901}
