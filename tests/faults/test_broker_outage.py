"""Disruptive: the broker (Redis) killed or frozen during an upload, IngestService killed after the
last chunk, a worker replaced under a new hostname (issue 13 item 7).

In every case the upload is never blocked, and the job the suite acknowledged (or recorded) is
dispatched within seconds of the broker being reachable and loaded exactly once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devstack import Stack
from ingest_svc.holds import HoldPoints
from teaching.ingest.v1 import ingest_service_pb2 as pb
from teaching.ingest.v1 import ingest_service_pb2_grpc
from tests.ingest.helpers import (
    HeldJob,
    assert_loaded_once,
    requests,
    unique_copy,
    upload,
    wait_for,
    wait_terminal,
)

log = logging.getLogger(__name__)

Auth = Callable[..., list[tuple[str, str]]]
# An upload of a few MB answers in well under a second; this only bounds a blocked call.
UPLOAD_DEADLINE_SECONDS = 20
# From the broker's return to the job running: the relay retries every second; the worker's own
# reconnection to Redis (Celery's backoff) is the longer part.
DISPATCHED_WITHIN_SECONDS = 60


@pytest.fixture(scope="module")
def admin(auth: Auth) -> list[tuple[str, str]]:
    return auth(f"broker-admin-{uuid.uuid4().hex[:8]}", "admin")


@pytest.fixture(scope="module")
def book(corpus: Path) -> bytes:
    return (corpus / "thinkpython2.pdf").read_bytes()


@pytest.fixture(scope="module")
def clean_atoms(ingest_stub: ingest_service_pb2_grpc.IngestServiceStub, admin: list[tuple[str, str]],
                book: bytes) -> int:
    """How many passages the book makes when nothing goes wrong."""
    job = wait_terminal(ingest_stub, admin, upload(ingest_stub, admin, unique_copy(book), "clean").job.job_id)
    assert job.state == pb.INGEST_JOB_STATE_SUCCEEDED, job.error_message
    return job.atoms_written


def _streaming(data: bytes, title: str, after_first_chunk: Callable[[], None]) -> Iterator[pb.UploadBookRequest]:
    """The upload's messages, acting on the stack once the first chunk is on its way."""
    for index, message in enumerate(requests(data, title)):
        yield message
        if index == 1:
            after_first_chunk()


def _health(stack: Stack, name: str) -> dict[str, int]:
    with grpc.insecure_channel(stack.address(name)) as channel:
        response = health_pb2_grpc.HealthStub(channel).List(health_pb2.HealthListRequest(), timeout=5)
    return {service: status.status for service, status in response.statuses.items()}


def _running_or_done(stub: ingest_service_pb2_grpc.IngestServiceStub, admin: Any, job_id: str) -> bool:
    job = stub.GetIngestJob(pb.GetIngestJobRequest(job_id=job_id), metadata=admin).job
    return bool(job.state != pb.INGEST_JOB_STATE_QUEUED)


@contextlib.contextmanager
def _redis_signalled(stack: Stack, stop: int, resume: int | None) -> Iterator[Callable[[], None]]:
    """A function that sends Redis `stop`; on leaving, Redis is resumed (`resume`) or started again."""

    def act() -> None:
        if resume is None:
            stack.kill_process("redis", stop)
        else:
            os.kill(stack._procs["redis"].pid, stop)

    try:
        yield act
    finally:
        if resume is None:
            stack.start_process("redis")
        else:
            os.kill(stack._procs["redis"].pid, resume)


@pytest.mark.parametrize(("stop", "resume"), [
    pytest.param(signal.SIGKILL, None, id="redis-killed"),
    pytest.param(signal.SIGSTOP, signal.SIGCONT, id="redis-frozen"),
])
def test_upload_during_a_broker_outage_is_accepted_and_dispatched_when_it_returns(
    stack: Stack, ingest_stub: ingest_service_pb2_grpc.IngestServiceStub, admin: list[tuple[str, str]],
    book: bytes, clean_atoms: int, stop: int, resume: int | None,
) -> None:
    data = unique_copy(book)
    with _redis_signalled(stack, stop, resume) as break_redis:
        started = time.monotonic()
        response = ingest_stub.UploadBook(_streaming(data, "During the outage", break_redis), metadata=admin,
                                          timeout=UPLOAD_DEADLINE_SECONDS)
        answered_after = time.monotonic() - started
        assert not response.deduplicated and response.job.state == pb.INGEST_JOB_STATE_QUEUED
        # Accepted, and honest about it: the service serves, the broker is reported missing.
        wait_for(lambda: _health(stack, "ingest")["dependency/broker"] == health_pb2.HealthCheckResponse.NOT_SERVING,
                 "the broker to be reported down", timeout=15)
        assert _health(stack, "ingest")["teaching.ingest.v1.IngestService"] == health_pb2.HealthCheckResponse.SERVING
        time.sleep(2)  # the relay tries (and fails) a couple of times meanwhile
        assert not _running_or_done(ingest_stub, admin, response.job.job_id)
    back = time.monotonic()
    wait_for(lambda: _running_or_done(ingest_stub, admin, response.job.job_id), "the job to be dispatched",
             timeout=DISPATCHED_WITHIN_SECONDS)
    running_after = time.monotonic() - back
    assert_loaded_once(stack, wait_terminal(ingest_stub, admin, response.job.job_id), clean_atoms)
    log.warning("%s: the upload answered in %.2fs; the job ran %.1fs after the broker was back",
                signal.Signals(stop).name, answered_after, running_after)


def test_ingest_killed_after_the_last_chunk_keeps_the_recorded_job(
    stack: Stack, ingest_stub: ingest_service_pb2_grpc.IngestServiceStub, admin: list[tuple[str, str]],
    book: bytes, clean_atoms: int,
) -> None:
    """Killed between recording the job and answering: the client retries, and gets that very job."""
    data = unique_copy(book)
    outcome: dict[str, Any] = {}

    def first_attempt() -> None:
        try:
            outcome["response"] = upload(ingest_stub, admin, data, "Killed after the last chunk")
        except grpc.RpcError as error:
            outcome["error"] = error

    with HeldJob(stack, data, HoldPoints.UPLOAD_RECORDED) as hold:
        attempt = threading.Thread(target=first_attempt)
        attempt.start()
        hold.wait_until_held()
        stack.kill_process("ingest", signal.SIGKILL)
        attempt.join(30)
    assert "response" not in outcome, "the killed call must not have answered"
    assert outcome["error"].code() == grpc.StatusCode.UNAVAILABLE
    stack.start_process("ingest")
    retried = upload(ingest_stub, admin, data, "Killed after the last chunk")
    assert retried.deduplicated  # the job recorded before the kill
    assert_loaded_once(stack, wait_terminal(ingest_stub, admin, retried.job.job_id), clean_atoms)


@contextlib.contextmanager
def _worker_named(stack: Stack, hostname: str) -> Iterator[subprocess.Popen[bytes]]:
    """A Celery worker like the stack's, under another hostname (a replacement on another machine)."""
    command = stack._command("worker")
    command[command.index("--hostname") + 1] = hostname
    log_path = stack.logs_dir / f"worker-{hostname}.log"
    with log_path.open("ab") as log_file:
        proc = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[2], env={**os.environ, **stack.env},
                                stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: " ready." in log_path.read_text(errors="replace"), f"worker {hostname} to be ready",
                 timeout=60)
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_worker_replaced_under_a_new_hostname_finishes_the_book_exactly_once(
    stack: Stack, ingest_stub: ingest_service_pb2_grpc.IngestServiceStub, admin: list[tuple[str, str]],
    corpus: Path,
) -> None:
    """The worker is killed after the book's last page range, before it passed the book on to the
    final load: nothing is left in the queue, only recovery can finish it, and the replacement
    comes up under another name (so it does not recognise the work as its own)."""
    book = (corpus / "multipage.pdf").read_bytes()
    clean = wait_terminal(ingest_stub, admin, upload(ingest_stub, admin, unique_copy(book), "clean").job.job_id)
    data = unique_copy(book)
    with HeldJob(stack, data) as hold:
        response = upload(ingest_stub, admin, data, "Worker replaced")
        hold.wait_until_held()
        killed_at = ingest_stub.GetIngestJob(pb.GetIngestJobRequest(job_id=response.job.job_id), metadata=admin).job
        assert killed_at.state == pb.INGEST_JOB_STATE_RUNNING
        assert killed_at.pages_done == killed_at.pages_total  # every range done, the load not started
        stack.kill_process("worker", signal.SIGKILL)
        killed = time.monotonic()
    try:
        with _worker_named(stack, f"replacement-{uuid.uuid4().hex[:6]}@elsewhere"):
            job = wait_terminal(ingest_stub, admin, response.job.job_id, timeout=120)
            finished_after = time.monotonic() - killed
    finally:
        stack.start_process("worker")
    assert_loaded_once(stack, job, clean.atoms_written)
    log.warning("worker replaced: the book finished %.1fs after its worker was killed", finished_after)
