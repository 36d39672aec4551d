"""Several server processes on one port (common.prefork): a real UserService started with
USER_SERVER_PROCESSES=2 beside the session stack (its Postgres and ContentService), on ports of its
own. Calls are answered by both processes, a SIGTERM drains both, the parent's metrics endpoint
sums them, and no process outlives the parent."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import psutil
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from common.metrics import MULTIPROC_DIR_VARIABLE
from devstack import Stack
from devstack.stack import free_ports
from teaching.user.v1 import user_service_pb2 as pb
from teaching.user.v1 import user_service_pb2_grpc
from tests.foundation.test_processes import gone

ROOT = Path(__file__).resolve().parents[2]
# A channel of its own is a connection of its own (grpc shares connections between equal channels).
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]


@dataclass
class ForkedService:
    parent: subprocess.Popen[bytes]
    port: int
    metrics_port: int
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def children(self) -> list[int]:
        return [child.pid for child in psutil.Process(self.parent.pid).children()]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_user_service(stack: Stack, folder: Path, **env: str) -> ForkedService:
    port, metrics_port = free_ports(2)
    metrics_dir = folder / "metrics"
    metrics_dir.mkdir()
    log = folder / "user.log"
    environment = {**os.environ, **stack.env, "USER_PORT": str(port), "USER_METRICS_PORT": str(metrics_port),
                   MULTIPROC_DIR_VARIABLE: str(metrics_dir), "USER_SERVER_PROCESSES": "2",
                   "SHUTDOWN_GRACE_SECONDS": "10", **env}
    with log.open("wb") as output:
        parent = subprocess.Popen([sys.executable, "-m", "user_svc"], cwd=ROOT, env=environment, stdout=output,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    return ForkedService(parent, port, metrics_port, log)


def until(condition: Callable[[], Any], what: str, seconds: float = 60.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds:.0f} s: {what}")


def listening(pid: int, port: int) -> bool:
    try:
        return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port
                   for c in psutil.Process(pid).net_connections("tcp"))
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def forked(stack: Stack, tmp_path: Path) -> Iterator[ForkedService]:
    service = start_user_service(stack, tmp_path)
    try:
        def both_listening() -> bool:
            assert service.parent.poll() is None, service.log_text()
            children = service.children()
            return len(children) == 2 and all(listening(pid, service.port) for pid in children)

        until(both_listening, "two server processes listening on the port")
        yield service
    finally:
        family = [service.parent.pid, *service.children()] if service.parent.poll() is None else []
        for pid in family:
            os.kill(pid, signal.SIGKILL)
        service.parent.wait(30)
        for pid in family:
            assert gone(pid)


def _ports_to(port: int) -> set[int]:
    """This process' local ports of its connections to `port`."""
    return {c.laddr.port for c in psutil.Process().net_connections("tcp") if c.raddr and c.raddr.port == port}


def _serves(pid: int, port: int, client_port: int) -> bool:
    return any(c.laddr.port == port and c.raddr and c.raddr.port == client_port
               for c in psutil.Process(pid).net_connections("tcp"))


@contextlib.contextmanager
def channel_per_process(service: ForkedService) -> Iterator[dict[int, grpc.Channel]]:
    """A channel whose connection each child process accepted, by pid (new connections until the
    kernel has handed one to each: it spreads them, so 64 tries all landing on one is 2**-63)."""
    children = service.children()
    served: dict[int, grpc.Channel] = {}
    spare: list[grpc.Channel] = []
    try:
        for _ in range(64):
            before = _ports_to(service.port)
            channel = grpc.insecure_channel(service.address, options=OWN_CONNECTION)
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
            (client_port,) = _ports_to(service.port) - before
            owner = next(pid for pid in children if _serves(pid, service.port, client_port))
            if owner in served:
                spare.append(channel)
            else:
                served[owner] = channel
            if len(served) == len(children):
                break
        assert len(served) == 2, f"64 connections, all accepted by {list(served)}"
        yield served
    finally:
        for channel in [*served.values(), *spare]:
            channel.close()


def handled(service: ForkedService, method: str) -> float:
    """grpc_server_handled_total{OK} of `method` as the parent's metrics endpoint reports it."""
    with urllib.request.urlopen(f"http://127.0.0.1:{service.metrics_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == "grpc_server_handled_total" and sample.labels.get("grpc_method") == method
               and sample.labels.get("grpc_code") == "OK")


def test_both_processes_answer_on_one_port_and_the_parent_reports_their_metrics_summed(
    forked: ForkedService, auth: Callable[..., list[tuple[str, str]]]
) -> None:
    metadata = auth("forked-teacher", "teacher")
    calls = {}
    with channel_per_process(forked) as channels:
        for pid, own in channels.items():
            stub = user_service_pb2_grpc.UserServiceStub(own)
            calls[pid] = 3 if not calls else 5  # different counts: the sum cannot come from one process
            for _ in range(calls[pid]):
                assert stub.GetProfile(pb.GetProfileRequest(), metadata=metadata, timeout=10).profile.user_id
    assert set(calls) == set(forked.children())
    assert handled(forked, "GetProfile") == sum(calls.values()) == 8


def test_a_sigterm_drains_the_calls_in_flight_in_every_process(
    forked: ForkedService, stack: Stack, auth: Callable[..., list[tuple[str, str]]]
) -> None:
    metadata = auth("draining-teacher", "teacher")
    with channel_per_process(forked) as channels:
        stubs = [user_service_pb2_grpc.UserServiceStub(channel) for channel in channels.values()]
        quizzes = [stub.CreateArtifact(pb.CreateArtifactRequest(artifact=pb.ClassArtifact(
            kind=pb.ARTIFACT_KIND_QUIZ, title="before", quiz=pb.Quiz())), metadata=metadata, timeout=10).artifact
            for stub in stubs]
        results: dict[int, Any] = {}
        with psycopg.connect(stack.settings.user_conninfo()) as holder:
            # The test holds both rows locked: each process' UpdateArtifact waits for the lock, in flight.
            holder.execute("SELECT 1 FROM class_artifacts WHERE artifact_id = ANY(%s) FOR UPDATE",
                           ([q.artifact_id for q in quizzes],))

            def update(index: int) -> None:
                quiz = quizzes[index]
                request = pb.UpdateArtifactRequest(
                    artifact=pb.ClassArtifact(artifact_id=quiz.artifact_id, etag=quiz.etag, title="after"),
                    update_mask={"paths": ["title"]})
                try:
                    results[index] = stubs[index].UpdateArtifact(request, metadata=metadata, timeout=30).artifact
                except grpc.RpcError as error:
                    results[index] = error

            threads = [threading.Thread(target=update, args=(i,)) for i in range(2)]
            for thread in threads:
                thread.start()
            # Watched from outside the holder's transaction, which would see one snapshot of pg_stat_activity.
            with psycopg.connect(stack.settings.user_conninfo(), autocommit=True) as observer:
                until(lambda: observer.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE '%FOR UPDATE%'").fetchone() == (2,), "both updates waiting for the rows")
            forked.parent.send_signal(signal.SIGTERM)

            def refused() -> bool:
                with grpc.insecure_channel(forked.address, options=OWN_CONNECTION) as late:
                    try:
                        health_pb2_grpc.HealthStub(late).Check(health_pb2.HealthCheckRequest(), timeout=2)
                    except grpc.RpcError as error:
                        return error.code() == grpc.StatusCode.UNAVAILABLE
                return False

            until(refused, "new calls refused once draining", seconds=30)
            assert all(thread.is_alive() for thread in threads), "an in-flight call ended before its row was free"
        for thread in threads:  # the holder's transaction ended: the rows are free
            thread.join(30)
    assert [getattr(results[i], "title", results[i]) for i in range(2)] == ["after", "after"]
    assert forked.parent.wait(30) == 0, forked.log_text()
    assert "draining 2 processes" in forked.log_text()


def test_the_processes_die_with_their_parent(forked: ForkedService) -> None:
    children = forked.children()
    forked.parent.kill()
    forked.parent.wait(10)
    for pid in children:
        assert gone(pid), f"server process {pid} outlived its SIGKILLed parent"


def test_a_process_that_dies_unasked_stops_the_service(forked: ForkedService) -> None:
    # The service is all of its processes: its supervisor restarts the whole, not a lesser service.
    doomed, survivor = forked.children()
    os.kill(doomed, signal.SIGKILL)
    assert forked.parent.wait(30) != 0
    assert gone(survivor)
    assert "exited with -9 unasked" in forked.log_text()


@pytest.mark.parametrize(("env", "message"), [
    ({MULTIPROC_DIR_VARIABLE: ""}, "PROMETHEUS_MULTIPROC_DIR"),
    ({"USER_PORT": "0"}, "need a fixed port"),
], ids=["metrics without a shared folder", "no fixed port"])
def test_several_processes_refuse_what_they_cannot_do(
    stack: Stack, tmp_path: Path, env: dict[str, str], message: str
) -> None:
    service = start_user_service(stack, tmp_path, **env)
    assert service.parent.wait(60) != 0
    assert message in service.log_text()
