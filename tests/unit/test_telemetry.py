"""Telemetry rules without a stack: when tracing is on, how log lines look, what they never hold."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext
from pydantic import SecretStr

from common import logs
from common.settings import ConfigurationError, Settings
from common.tracing import exporter_name

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0MSJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
PAGE_TOKEN = "gAAAAABnX2J6Q0x2dW5jb2RlZC1ieXRlcy1vZi1hLXBhZ2UtdG9rZW4tdGhhdC1pcy1sb25n"


@pytest.mark.parametrize(("env", "expected"), [
    ({}, None),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, "otlp"),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, "otlp"),
    ({"OTEL_TRACES_EXPORTER": "console"}, "console"),
    ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, "otlp"),
    ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, None),
    ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"}, None),
], ids=["off-by-default", "endpoint", "traces-endpoint", "console", "otlp-http", "none-wins", "sdk-disabled"])
def test_tracing_is_on_only_when_asked_for(env: dict[str, str], expected: str | None) -> None:
    assert exporter_name(env) == expected


@pytest.mark.parametrize("env", [
    {"OTEL_TRACES_EXPORTER": "jaeger"},
    {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
], ids=["unknown-exporter", "otlp-grpc"])
def test_an_exporter_this_suite_lacks_is_refused_by_name(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="OTEL_"):
        exporter_name(env)


def settings(secret: str = "s" * 40) -> Settings:
    return Settings(page_token_secret=SecretStr(secret))


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The root logger configured as a service configures it, writing into a buffer."""
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    stream = io.StringIO()
    logs.configure_logging(settings(), "TestService", stream=stream)
    yield stream
    root.handlers = saved
    root.setLevel(level)
    logging.captureWarnings(False)


def records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_is_one_json_object_with_time_level_service_and_fields(captured: io.StringIO) -> None:
    logging.getLogger("common.somewhere").info("%s done", "call", extra={"job": "j1"})
    [line] = records(captured)
    assert list(line)[:2] == ["time", "level"]
    assert line["level"] == "INFO" and line["service"] == "TestService" and line["logger"] == "common.somewhere"
    assert line["message"] == "call done" and line["job"] == "j1"
    assert line["time"].endswith("+00:00")  # type: ignore[union-attr]
    assert "trace_id" not in line  # written outside any trace


def test_an_access_line_is_shaped_like_any_other_and_carries_the_trace(captured: io.StringIO) -> None:
    logging.getLogger("common.somewhere").info("plain")
    context = SpanContext(0x1234, 0x56, is_remote=True)
    with trace.use_span(NonRecordingSpan(context)):
        logs.access(logging.INFO, "/a.B/C OK 0.50 ms", {"method": "/a.B/C", "status": "OK", "duration_ms": 0.5,
                                                        "user": "abc"})
        logging.getLogger("common.somewhere").info("inside")
    plain, access, inside = records(captured)
    assert list(access)[:len(plain)] == list(plain)
    assert access["logger"] == "access" and access["service"] == "TestService" and access["method"] == "/a.B/C"
    assert access["trace_id"] == inside["trace_id"] == f"{0x1234:032x}"
    assert access["span_id"] == inside["span_id"] == f"{0x56:016x}"


def test_tokens_in_messages_and_tracebacks_are_redacted(captured: io.StringIO) -> None:
    log = logging.getLogger("common.somewhere")
    log.warning("refused %s with page token %s", f"Bearer {JWT}", PAGE_TOKEN)
    try:
        raise ValueError(f"bad token {JWT}")
    except ValueError:
        log.exception("failed")
    first, second = records(captured)
    text = captured.getvalue()
    assert JWT not in text and PAGE_TOKEN not in text
    assert first["message"] == f"refused Bearer {logs.REDACTED} with page token {logs.REDACTED}"
    assert logs.REDACTED in str(second["exc_info"])


def test_user_ids_are_hashed_alike_within_a_suite_and_apart_across_suites() -> None:
    logs.set_user_key(settings("a" * 40))
    first = logs.hashed_user("teacher-1")
    assert first == logs.hashed_user("teacher-1") != logs.hashed_user("teacher-2")
    assert "teacher-1" not in first
    logs.set_user_key(settings("b" * 40))
    assert logs.hashed_user("teacher-1") != first
