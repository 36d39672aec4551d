"""Tracing: a stack of its own exports every process' spans (Envoy's too) over OTLP/HTTP to a receiver in
this test, as it would to a collector; one upload through Envoy is one connected trace, from the front
through UploadBook and its SQL to the Celery tasks that ingest the book and theirs."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from common.auth import mint_token
from devstack import Stack
from teaching.ingest.v1 import ingest_service_pb2 as ingest_pb
from teaching.ingest.v1 import ingest_service_pb2_grpc
from tests.conftest import running_stack
from tests.envoy.web import http_request
from tests.ingest.helpers import unique_copy, upload, wait_terminal
from tests.observability.otlp import ReceivedSpan, SpanCollector, otlp_receiver
from tests.observability.support import log_lines

SERVER, CONSUMER = 2, 5  # OTLP's span kinds
UPLOAD = "teaching.ingest.v1.IngestService/UploadBook"


@pytest.fixture(scope="module")
def traced() -> Iterator[tuple[Stack, SpanCollector]]:
    with otlp_receiver() as (endpoint, spans), running_stack(
        "teaching-traced-stack-", env={"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    ) as stack:
        yield stack, spans


def roots(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    """The spans whose parent is not among `spans`: one, with no parent at all, in a connected trace."""
    ids = {span.span_id for span in spans}
    return [span for span in spans if span.parent_span_id not in ids]


def ancestors(span: ReceivedSpan, spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    by_id = {s.span_id: s for s in spans}
    chain = []
    while span.parent_span_id in by_id:
        span = by_id[span.parent_span_id]
        chain.append(span)
    return chain


def named(spans: list[ReceivedSpan], name: str) -> ReceivedSpan | None:
    return next((s for s in spans if s.name == name), None)


def test_an_upload_through_envoy_is_one_connected_trace(traced: tuple[Stack, SpanCollector], corpus: Path) -> None:
    stack, received = traced
    admin = [("authorization", f"Bearer {mint_token(stack.settings, 'tracer', ['admin'])}")]
    with grpc.insecure_channel(stack.address("envoy")) as channel:
        stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
        job = upload(stub, admin, unique_copy((corpus / "multipage.pdf").read_bytes()), "Traced").job
        assert wait_terminal(stub, admin, job.job_id).state == ingest_pb.INGEST_JOB_STATE_SUCCEEDED

    received.wait_for(lambda spans: named(spans, UPLOAD) is not None, "the UploadBook span")
    call = named(received.spans(), UPLOAD)
    assert call is not None and (call.service, call.kind) == ("IngestService", SERVER)

    def complete(spans: list[ReceivedSpan]) -> bool:
        mine = [s for s in spans if s.trace_id == call.trace_id]
        top = roots(mine)
        return named(mine, "run/ingest.finalize") is not None and len(top) == 1 and not top[0].parent_span_id

    # Processes export in batches (Envoy every few seconds): wait until the trace is whole.
    received.wait_for(complete, "one connected trace from Envoy to the finalize task")
    spans = received.spans(call.trace_id)
    [root] = roots(spans)
    assert (root.service, root.kind) == ("Envoy", SERVER)
    assert ancestors(call, spans)[-1] == root

    names = {(s.service, s.name) for s in spans}
    for task in ("ingest.prepare", "ingest.process_range", "ingest.finalize"):
        assert ("IngestWorker", f"run/{task}") in names, task
    published = named(spans, "apply_async/ingest.prepare")
    assert published is not None and published.service == "IngestService" and call in ancestors(published, spans)
    finalize = named(spans, "run/ingest.finalize")
    assert finalize is not None and finalize.kind == CONSUMER and call in ancestors(finalize, spans)

    sql = [s for s in spans if s.attributes.get("db.system") == "postgresql"]
    assert any(s.service == "IngestService" and call in ancestors(s, spans) for s in sql), "UploadBook's SQL"
    assert any(s.service == "IngestWorker" and finalize in ancestors(s, spans) for s in sql), "finalize's SQL"

    # The log lines of the call and of the tasks carry the trace's id.
    for name in ("ingest", "worker"):
        assert any(json.loads(line).get("trace_id") == call.trace_id for line in log_lines(stack, name)), name


def test_a_json_call_continues_the_callers_trace_through_envoy_into_the_service_and_its_sql(
    traced: tuple[Stack, SpanCollector],
) -> None:
    stack, received = traced
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    reply = http_request(stack.address("envoy"), "GET", "/v1/profile",
                         token=mint_token(stack.settings, "json-tracer", ["teacher"]),
                         headers={"traceparent": f"00-{trace_id}-{caller_span}-01"})
    assert reply.status == 200, reply.body
    received.wait_for(lambda spans: any(s.service == "UserService" and s.trace_id == trace_id for s in spans)
                      and any(s.service == "Envoy" and s.trace_id == trace_id for s in spans), "the call's spans")
    spans = received.spans(trace_id)
    front = next(s for s in spans if s.service == "Envoy")
    assert front.parent_span_id == caller_span
    call = next(s for s in spans if s.name == "teaching.user.v1.UserService/GetProfile")
    assert call.parent_span_id == front.span_id and call.kind == SERVER
    assert call.attributes["rpc.grpc.status_code"] == 0
    assert any(s.attributes.get("db.system") == "postgresql" and s.parent_span_id == call.span_id for s in spans)
