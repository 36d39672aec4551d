"""Every process of the stack serves Prometheus metrics, and they move with the calls it serves: RPCs by
service, method and status code with latency histograms, pools, the content cache, the worker's tasks,
pages, jobs and queue, and Envoy's own statistics (docs/operations.md)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from devstack import Stack
from teaching.content.v1 import content_service_pb2 as content_pb
from teaching.content.v1 import content_service_pb2_grpc
from teaching.ingest.v1 import ingest_service_pb2 as ingest_pb
from teaching.ingest.v1 import ingest_service_pb2_grpc
from teaching.user.v1 import user_service_pb2 as user_pb
from teaching.user.v1 import user_service_pb2_grpc
from tests.content.support import load, textbook_parsed
from tests.envoy.web import http_request
from tests.ingest.helpers import unique_copy, upload, wait_terminal
from tests.observability.support import scrape, value, wait_for_value

Auth = Callable[..., list[tuple[str, str]]]


@dataclass(frozen=True)
class Calls:
    """Calls to one process: `ok` answers OK, `failing` answers `code`."""

    process: str
    ok_labels: dict[str, str]  # grpc_service, grpc_method, grpc_type
    ok: Callable[[grpc.Channel, Auth], object]
    failing_labels: dict[str, str]
    failing: Callable[[grpc.Channel, Auth], object]
    code: grpc.StatusCode


def _reflection_listing(channel: grpc.Channel, _auth: Auth) -> object:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    return list(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))


def _health_of_an_unknown_service(channel: grpc.Channel, _auth: Auth) -> object:
    return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="no.such.Service"))


def _labels(service: str, method: str, grpc_type: str = "unary") -> dict[str, str]:
    return {"grpc_service": service, "grpc_method": method, "grpc_type": grpc_type}


CONTENT, USER, INGEST = "teaching.content.v1.ContentService", "teaching.user.v1.UserService", \
    "teaching.ingest.v1.IngestService"
CALLS = [
    Calls("content",
          _labels(CONTENT, "ListBooks"), lambda ch, auth: content_service_pb2_grpc.ContentServiceStub(ch).ListBooks(
              content_pb.ListBooksRequest(), metadata=auth("metrics-teacher")),
          _labels(CONTENT, "GetBook"), lambda ch, auth: content_service_pb2_grpc.ContentServiceStub(ch).GetBook(
              content_pb.GetBookRequest(book_id=str(uuid.uuid4())), metadata=auth("metrics-teacher")),
          grpc.StatusCode.NOT_FOUND),
    Calls("user",
          _labels(USER, "GetProfile"), lambda ch, auth: user_service_pb2_grpc.UserServiceStub(ch).GetProfile(
              user_pb.GetProfileRequest(), metadata=auth("metrics-teacher")),
          _labels(USER, "GetArtifact"), lambda ch, auth: user_service_pb2_grpc.UserServiceStub(ch).GetArtifact(
              user_pb.GetArtifactRequest(artifact_id="not-an-id"), metadata=auth("metrics-teacher")),
          grpc.StatusCode.INVALID_ARGUMENT),
    Calls("ingest",
          _labels(INGEST, "ListIngestJobs"), lambda ch, auth: ingest_service_pb2_grpc.IngestServiceStub(ch)
          .ListIngestJobs(ingest_pb.ListIngestJobsRequest(), metadata=auth("metrics-admin", "admin")),
          _labels(INGEST, "GetIngestJob"), lambda ch, _auth: ingest_service_pb2_grpc.IngestServiceStub(ch)
          .GetIngestJob(ingest_pb.GetIngestJobRequest(job_id=str(uuid.uuid4()))),  # no token
          grpc.StatusCode.UNAUTHENTICATED),
    Calls("reflection",
          _labels("grpc.reflection.v1alpha.ServerReflection", "ServerReflectionInfo", "bidi_stream"),
          _reflection_listing,
          _labels("grpc.health.v1.Health", "Check"), _health_of_an_unknown_service, grpc.StatusCode.NOT_FOUND),
]


@pytest.mark.parametrize("calls", CALLS, ids=[c.process for c in CALLS])
def test_rpc_counters_and_latencies_move_with_the_calls_served(stack: Stack, auth: Auth, calls: Calls) -> None:
    url = stack.metrics_urls()[calls.process]
    before = scrape(url)
    with grpc.insecure_channel(stack.address(calls.process)) as channel:
        for _ in range(3):
            calls.ok(channel, auth)
        with pytest.raises(grpc.RpcError) as refused:
            calls.failing(channel, auth)
    assert refused.value.code() == calls.code
    after = scrape(url)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("grpc_server_handled_total", **calls.ok_labels, grpc_code="OK") == 3
    assert moved("grpc_server_handling_seconds_count", **calls.ok_labels) == 3
    assert value(after, "grpc_server_handling_seconds_bucket", **calls.ok_labels, le="+Inf") == value(
        after, "grpc_server_handling_seconds_count", **calls.ok_labels)
    assert moved("grpc_server_handled_total", **calls.failing_labels, grpc_code=calls.code.name) == 1


def test_pools_report_their_size_and_requests(stack: Stack, auth: Auth) -> None:
    url = stack.metrics_urls()["user"]
    before = scrape(url)
    with grpc.insecure_channel(stack.address("user")) as channel:
        for _ in range(5):
            user_service_pb2_grpc.UserServiceStub(channel).GetProfile(user_pb.GetProfileRequest(),
                                                                     metadata=auth("metrics-pool"))
    pool = frozenset({("pool", "user")})
    after = wait_for_value(url, lambda s: s.get(("db_pool_requests_total", pool), 0)
                           >= before.get(("db_pool_requests_total", pool), 0) + 5, "the user pool's requests")
    assert after[("db_pool_max_connections", pool)] == stack.settings.db_pool_max_size
    assert 1 <= after[("db_pool_connections", pool)] <= stack.settings.db_pool_max_size
    # Waits and timeouts are reported from the start, at zero until they happen.
    for counter in ("db_pool_waits_total", "db_pool_wait_seconds_total", "db_pool_timeouts_total",
                    "db_pool_waiting_requests"):
        assert (counter, pool) in after, counter


def test_the_content_cache_counts_hits_and_misses(stack: Stack, auth: Auth) -> None:
    book_id = load(stack.settings.content_conninfo(), textbook_parsed())
    url = stack.metrics_urls()["content"]
    hit, miss = {"cache": "content", "result": "hit"}, {"cache": "content", "result": "miss"}
    before = scrape(url)
    with grpc.insecure_channel(stack.address("content")) as channel:
        stub = content_service_pb2_grpc.ContentServiceStub(channel)
        for _ in range(2):  # computed and stored, then read from Redis
            stub.GetBookOutline(content_pb.GetBookOutlineRequest(book_id=str(book_id)), metadata=auth("cache"))
    after = scrape(url)
    assert value(after, "cache_lookups_total", **miss) - value(before, "cache_lookups_total", **miss) == 1
    assert value(after, "cache_lookups_total", **hit) - value(before, "cache_lookups_total", **hit) == 1


def test_the_worker_counts_tasks_pages_and_jobs_of_all_its_pool_processes(
    stack: Stack, auth: Auth, corpus: Path
) -> None:
    url = stack.metrics_urls()["worker"]
    # Each pool process opened a pool of its own: the sum over processes is the multiprocess view.
    pool = {"pool": "ingest-worker"}
    wait_for_value(url, lambda s: value(s, "db_pool_max_connections", **pool)
                   == stack.worker_concurrency * stack.settings.db_pool_max_size,
                   "every pool process' connection pool")
    before = scrape(url)
    admin = auth("metrics-admin", "admin")
    with grpc.insecure_channel(stack.address("ingest")) as channel:
        stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
        job = wait_terminal(stub, admin, upload(stub, admin, unique_copy((corpus / "multipage.pdf").read_bytes()),
                                                "Metrics").job.job_id)
    assert job.state == ingest_pb.INGEST_JOB_STATE_SUCCEEDED

    def counted(samples: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> bool:
        finalized = {"task": "ingest.finalize", "state": "SUCCESS"}
        return value(samples, "ingest_task_seconds_count", **finalized) > value(
            before, "ingest_task_seconds_count", **finalized) and value(
            samples, "db_pool_requests_total", **pool) > value(before, "db_pool_requests_total", **pool)

    # Tasks are counted as they end, pools sampled once a second.
    after = wait_for_value(url, counted, "the finalize task's duration and the pool's requests")
    for task in ("ingest.prepare", "ingest.finalize"):
        done = {"task": task, "state": "SUCCESS"}
        assert value(after, "ingest_task_seconds_count", **done) - value(before, "ingest_task_seconds_count",
                                                                         **done) == 1, task
    ranges = {"task": "ingest.process_range", "state": "SUCCESS"}
    assert value(after, "ingest_task_seconds_count", **ranges) > value(before, "ingest_task_seconds_count", **ranges)
    assert value(after, "ingest_pages_total") - value(before, "ingest_pages_total") == job.pages_total
    succeeded = {"state": "SUCCEEDED"}
    assert value(after, "ingest_jobs", **succeeded) - value(before, "ingest_jobs", **succeeded) == 1
    assert ("ingest_queue_depth", frozenset()) in after


def test_envoy_serves_its_own_statistics_for_prometheus(stack: Stack, make_token: Callable[..., str]) -> None:
    url = stack.metrics_urls()["envoy"]
    upstream = {"envoy_cluster_name": "user"}
    before = scrape(url)
    reply = http_request(stack.address("envoy"), "GET", "/v1/profile", token=make_token("metrics-envoy"))
    assert reply.status == 200, reply.body
    after = scrape(url)
    assert value(after, "envoy_cluster_upstream_rq_total", **upstream) > value(
        before, "envoy_cluster_upstream_rq_total", **upstream)
