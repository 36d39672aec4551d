"""Does a second server process pay on this machine? (issue 11 item 9)

Beside the bench stack, on its database, two more servers of a service are started: one with 1
server process and one with 2 (<NAME>_SERVER_PROCESSES, common.prefork). The same calls at the same
concurrency go to each, alternating runs round by round so that both see the same machine. Every
client thread has a connection of its own: the kernel spreads connections, not calls, over the
processes, so a client with one connection would only ever reach one of them. Client, servers and
Postgres share the machine's cores.
"""

from __future__ import annotations

import functools
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import grpc
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.harness import ROOT, ConnectionPerThread, Metadata, auth, ratio, run_load
from bench.search import SearchTarget, grpc_request
from common.metrics import MULTIPROC_DIR_VARIABLE
from devstack import Stack, processes
from devstack.stack import free_ports
from teaching.content.v1 import content_service_pb2_grpc
from teaching.user.v1 import user_service_pb2 as user_pb
from teaching.user.v1 import user_service_pb2_grpc

COUNTS = (1, 2)


@dataclass(frozen=True)
class Server:
    address: str
    port: int
    pid: int


@contextmanager
def extra_service(stack: Stack, service: str, count: int) -> Iterator[Server]:
    """`python -m <service>_svc` with `count` server processes on a free port of its own."""
    (port,) = free_ports(1)
    name = service.upper()
    env = {**os.environ, **stack.env, f"{name}_PORT": str(port), f"{name}_SERVER_PROCESSES": str(count),
           f"{name}_METRICS_PORT": "0", "PYTHONUNBUFFERED": "1"}
    env.pop(MULTIPROC_DIR_VARIABLE, None)
    log_path = stack.logs_dir / f"{service}-bench-{count}-processes.log"
    with log_path.open("ab") as log_file:
        proc = subprocess.Popen(processes.with_death_signal([sys.executable, "-m", f"{service}_svc"], signal.SIGTERM),
                                cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(f"127.0.0.1:{port}", port, proc.pid)
    try:
        _wait_serving(proc, server.address, port, count, log_path.name)
        yield server
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def connections_per_process(server: Server) -> list[int]:
    """The clients' connections each server process holds, most first (the kernel's split)."""
    parent = psutil.Process(server.pid)
    members = parent.children() or [parent]
    return sorted((sum(c.status == psutil.CONN_ESTABLISHED and c.laddr.port == server.port
                       for c in member.net_connections("tcp")) for member in members), reverse=True)


def _wait_serving(proc: subprocess.Popen[bytes], address: str, port: int, count: int, log: str) -> None:
    """Until `count` processes listen on `port` and the service answers SERVING."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{address} exited with {proc.returncode}; see the stack's logs/{log}")
        family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        listening = sum(any(c.status == psutil.CONN_LISTEN and c.laddr.port == port
                            for c in member.net_connections("tcp")) for member in family)
        if listening == count:
            with grpc.insecure_channel(address) as channel:
                try:
                    status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
                    if status.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
        time.sleep(0.2)
    raise RuntimeError(f"{address} not serving with {count} processes after 60 s; see the stack's logs/{log}")


Call = Callable[[ConnectionPerThread, int], object]


def _compare(servers: dict[int, Server], stub_type: Callable[[grpc.Channel], Any], call: Call, *,
             levels: tuple[int, ...], rounds: int, seconds: float) -> list[dict[str, Any]]:
    """Per concurrency level: median throughput and p50 over `rounds` alternating runs per process
    count, each run on fresh connections, and how the kernel split them over the processes."""
    rows = []
    for level in levels:
        runs: dict[int, list[dict[str, Any]]] = {count: [] for count in servers}
        for round_ in range(rounds):
            order = list(servers) if round_ % 2 == 0 else list(reversed(servers))
            for count in order:
                client = ConnectionPerThread(servers[count].address, stub_type)
                try:
                    summary: dict[str, Any] = run_load(functools.partial(call, client), concurrency=level,
                                                       requests=10**9, max_seconds=seconds, warmup=0).summary()
                    summary["connections"] = connections_per_process(servers[count])
                finally:
                    client.close()
                runs[count].append(summary)
        row: dict[str, Any] = {"concurrency": level, "load_average": round(os.getloadavg()[0], 2)}
        for count, summaries in runs.items():
            row[f"processes_{count}"] = {
                "throughput_rps": round(statistics.median(s["throughput_rps"] for s in summaries), 1),
                "p50_ms": round(statistics.median(s["p50_ms"] for s in summaries), 3),
                "throughput_each_round": [s["throughput_rps"] for s in summaries],
                "connections_each_round": [s["connections"] for s in summaries],
            }
        row["ratio_throughput"] = ratio(row["processes_2"]["throughput_rps"], row["processes_1"]["throughput_rps"])
        rows.append(row)
    return rows


def bench_processes(stack: Stack, target: SearchTarget, *, levels: tuple[int, ...] = (1, 8), rounds: int = 3,
                    seconds: float = 5.0) -> dict[str, Any]:
    """Search (ContentService), GetArtifact (UserService) and the gRPC floor, on 1 against 2 processes."""
    metadata = auth(stack, "bench-processes")
    requests = [grpc_request(target, query) for query in target.queries]
    health = health_pb2.HealthCheckRequest()

    def search(client: ConnectionPerThread, i: int) -> object:
        return client.stub().SearchContent(requests[i % len(requests)], metadata=metadata, timeout=120)

    def floor(client: ConnectionPerThread, i: int) -> object:
        return client.stub().Check(health, timeout=30)

    results: dict[str, Any] = {"counts": list(COUNTS), "rounds": rounds, "seconds_per_run": seconds}
    with extra_service(stack, "content", 1) as one, extra_service(stack, "content", 2) as two:
        servers = {1: one, 2: two}
        results["search"] = _compare(servers, content_service_pb2_grpc.ContentServiceStub, search,
                                     levels=levels, rounds=rounds, seconds=seconds)
        results["floor"] = _compare(servers, health_pb2_grpc.HealthStub, floor, levels=levels, rounds=rounds,
                                    seconds=seconds)
    with extra_service(stack, "user", 1) as one, extra_service(stack, "user", 2) as two:
        servers = {1: one, 2: two}
        artifact_id = _artifact(one.address, metadata)

        def get(client: ConnectionPerThread, i: int) -> object:
            return client.stub().GetArtifact(user_pb.GetArtifactRequest(artifact_id=artifact_id), metadata=metadata,
                                             timeout=30)

        results["get_artifact"] = _compare(servers, user_service_pb2_grpc.UserServiceStub, get, levels=levels,
                                           rounds=rounds, seconds=seconds)
    results["search_target"] = {"label": target.label, "books": len(target.book_ids)}
    return results


def _artifact(address: str, metadata: Metadata) -> str:
    """A quiz citing nothing: GetArtifact measures UserService alone, not ContentService behind it."""
    with grpc.insecure_channel(address) as channel:
        quiz = user_pb.ClassArtifact(kind=user_pb.ARTIFACT_KIND_QUIZ, title="Process model", quiz=user_pb.Quiz(
            questions=[user_pb.QuizQuestion(prompt="Which core?", choices=["0", "1"], correct_choice_index=0)]))
        created = user_service_pb2_grpc.UserServiceStub(channel).CreateArtifact(
            user_pb.CreateArtifactRequest(artifact=quiz), metadata=metadata, timeout=30)
    return str(created.artifact.artifact_id)
