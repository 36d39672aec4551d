"""Disruptive: Postgres SIGKILLed under the services (issue 13 item 6).

While it is down every service answers within seconds with UNAVAILABLE (never a 30 s hang, INTERNAL
or a database message), its health turns NOT_SERVING and names the missing dependency; when Postgres
is back everything recovers by itself, with the same service processes.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devstack import Stack
from teaching.content.v1 import content_service_pb2, content_service_pb2_grpc
from teaching.ingest.v1 import ingest_service_pb2, ingest_service_pb2_grpc
from teaching.user.v1 import user_service_pb2, user_service_pb2_grpc
from tests.ingest.helpers import HeldJob, assert_loaded_once, unique_copy, upload, wait_for, wait_terminal
from tests.reliability.rpcs import error_info

log = logging.getLogger(__name__)

SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
# How long a call may take to fail while the database is down: generous (the design answers at
# once, or after the 2 s checkout timeout), far below the 30 s the pool used to wait.
FAIL_FAST_SECONDS = 6.0
# How long the mid-book outage lasts: longer than an ordinary error's retries, within an outage's.
OUTAGE_SECONDS = 15


def _list_books(channel: grpc.Channel, metadata: Any) -> None:
    content_service_pb2_grpc.ContentServiceStub(channel).ListBooks(
        content_service_pb2.ListBooksRequest(), metadata=metadata, timeout=15)


def _get_profile(channel: grpc.Channel, metadata: Any) -> None:
    user_service_pb2_grpc.UserServiceStub(channel).GetProfile(
        user_service_pb2.GetProfileRequest(), metadata=metadata, timeout=15)


def _list_jobs(channel: grpc.Channel, metadata: Any) -> None:
    ingest_service_pb2_grpc.IngestServiceStub(channel).ListIngestJobs(
        ingest_service_pb2.ListIngestJobsRequest(), metadata=metadata, timeout=15)


SERVICES = {
    "content": ("teaching.content.v1.ContentService", "db_content", _list_books),
    "user": ("teaching.user.v1.UserService", "db_user", _get_profile),
    "ingest": ("teaching.ingest.v1.IngestService", "db_content", _list_jobs),
}


def _health(channel: grpc.Channel) -> dict[str, int]:
    response = health_pb2_grpc.HealthStub(channel).List(health_pb2.HealthListRequest(), timeout=5)
    return {name: status.status for name, status in response.statuses.items()}


def _answers(call: Callable[[], object]) -> bool:
    """Whether the call succeeds; an outage not yet over is UNAVAILABLE, anything else fails the test."""
    try:
        call()
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.UNAVAILABLE, error.details()
        return False
    return True


@pytest.fixture
def postgres_killed(stack: Stack) -> Iterator[float]:
    """Postgres (postmaster and backends) SIGKILLed; started again afterwards whatever happens."""
    stack.kill_process("postgres", signal.SIGKILL)
    try:
        yield time.monotonic()
    finally:
        stack.start_process("postgres")


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_postgres_killed_calls_fail_fast_health_follows_and_all_recovers(
    stack: Stack, auth: Callable[..., list[tuple[str, str]]], name: str, request: pytest.FixtureRequest,
) -> None:
    service, database, call = SERVICES[name]
    caller = auth(f"outage-{name}", "teacher", "admin")
    pid = stack._procs[name].pid
    with grpc.insecure_channel(stack.address(name)) as channel:
        call(channel, caller)  # healthy: pool connections exist and are idle
        assert _health(channel)[f"dependency/{database}"] == SERVING

        killed_at = request.getfixturevalue("postgres_killed")
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as raised:
            call(channel, caller)
        failed_after = time.monotonic() - started
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE, raised.value.details()
        assert failed_after < FAIL_FAST_SECONDS
        info = error_info(raised.value)
        assert info is not None and info.reason == "DATABASE_UNAVAILABLE"
        assert database in raised.value.details() and "psycopg" not in raised.value.details()

        wait_for(lambda: _health(channel)[service] == NOT_SERVING, f"{name} to report NOT_SERVING", timeout=15)
        reported_after = time.monotonic() - killed_at
        statuses = _health(channel)
        assert statuses[""] == NOT_SERVING
        assert statuses[f"dependency/{database}"] == NOT_SERVING

        # A second call, the outage known: still fast, still UNAVAILABLE.
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as again:
            call(channel, caller)
        assert again.value.code() == grpc.StatusCode.UNAVAILABLE
        assert time.monotonic() - started < FAIL_FAST_SECONDS

        stack.start_process("postgres")
        back = time.monotonic()
        wait_for(lambda: _health(channel)[service] == SERVING, f"{name} to report SERVING again", timeout=30)
        healthy_after = time.monotonic() - back

        wait_for(lambda: _answers(lambda: call(channel, caller)), f"{name} to answer from the database again",
                 timeout=30)
        answered_after = time.monotonic() - back
    assert stack._procs[name].pid == pid and name not in stack.dead_processes()  # no restart needed
    log.warning("%s: failed after %.2fs, NOT_SERVING %.2fs after the kill; SERVING %.2fs and answering %.2fs "
                "after Postgres was back", name, failed_after, reported_after, healthy_after, answered_after)


def test_postgres_killed_mid_book_delays_the_book_and_it_loads_once(
    stack: Stack, ingest_stub: ingest_service_pb2_grpc.IngestServiceStub,
    auth: Callable[..., list[tuple[str, str]]], corpus: Path, request: pytest.FixtureRequest,
) -> None:
    """The steps a Postgres outage interrupts wait for it (patient retries) instead of failing the book."""
    admin = auth("outage-ingest-admin", "admin")
    book = (corpus / "thinkpython2.pdf").read_bytes()
    clean = wait_terminal(ingest_stub, admin, upload(ingest_stub, admin, unique_copy(book), "clean").job.job_id)
    data = unique_copy(book)
    with HeldJob(stack, data) as hold:
        job_id = upload(ingest_stub, admin, data, "Through the outage").job.job_id
        hold.wait_until_held()
        request.getfixturevalue("postgres_killed")
    # Released into the outage: the remaining page ranges meet a database that is gone, for longer
    # than the three quick retries of an ordinary error (1 + 2 + 4 s) used to allow.
    time.sleep(OUTAGE_SECONDS)
    stack.start_process("postgres")
    request_ = ingest_service_pb2.GetIngestJobRequest(job_id=job_id)
    wait_for(lambda: _answers(lambda: ingest_stub.GetIngestJob(request_, metadata=admin)), "ingest to answer again")
    assert_loaded_once(stack, wait_terminal(ingest_stub, admin, job_id, timeout=180), clean.atoms_written)
