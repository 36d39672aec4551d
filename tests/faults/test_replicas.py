"""Envoy in front of replicas: ContentService runs twice behind the front; one replica is killed
(SIGKILL) or restarted (SIGTERM, drain, start) while clients read through Envoy, and no read fails:
refused connections and reset streams are retried on the other replica, and the dead one is ejected."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest

from devstack import Stack
from teaching.content.v1 import content_service_pb2 as pb
from teaching.content.v1 import content_service_pb2_grpc
from tests.content.support import Textbook
from tests.envoy.web import http_request

CALLS_BEFORE = 60  # reads completed before the disruption, so both replicas are in use
CALLS_AFTER = 200  # reads completed after Envoy noticed it
MAX_SECONDS = 120  # the load ends by itself after this, whatever happened


def envoy_stats(stack: Stack) -> dict[str, int]:
    url = f"http://127.0.0.1:{stack.ports.envoy_admin}/stats?format=json&filter=^cluster\\.content\\."
    with urllib.request.urlopen(url, timeout=5) as response:
        stats = json.loads(response.read())["stats"]
    return {s["name"]: int(s["value"]) for s in stats if isinstance(s.get("value"), int)}


def healthy_endpoints(stack: Stack) -> set[int]:
    url = f"http://127.0.0.1:{stack.ports.envoy_admin}/clusters?format=json"
    with urllib.request.urlopen(url, timeout=5) as response:
        clusters = json.loads(response.read())["cluster_statuses"]
    content = next(c for c in clusters if c["name"] == "content")
    return {h["address"]["socket_address"]["port_value"] for h in content.get("host_statuses", [])
            if h["health_status"].get("eds_health_status") == "HEALTHY" and len(h["health_status"]) == 1}


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@dataclass
class Load:
    """Reads through the front from a few threads until stopped (or MAX_SECONDS): gRPC and JSON."""

    stack: Stack
    token: str
    book_id: str
    done: int = 0
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reads(self, stub: content_service_pb2_grpc.ContentServiceStub) -> list[Callable[[], Any]]:
        auth = [("authorization", f"Bearer {self.token}")]
        front = self.stack.address("envoy")

        def json_get() -> None:
            reply = http_request(front, "GET", f"/v1/books/{self.book_id}", token=self.token, timeout=20)
            if reply.status != 200:
                raise AssertionError(f"GET /v1/books: {reply.status} {reply.body[:200]!r}")

        return [
            lambda: stub.SearchContent(pb.SearchContentRequest(query="membranes", book_ids=[self.book_id], top_k=5),
                                       metadata=auth, timeout=20),
            lambda: stub.GetBookOutline(pb.GetBookOutlineRequest(book_id=self.book_id), metadata=auth, timeout=20),
            lambda: stub.ListPedagogyStrategies(pb.ListPedagogyStrategiesRequest(), metadata=auth, timeout=20),
            json_get,
        ]

    def run(self) -> None:
        deadline = time.monotonic() + MAX_SECONDS
        with grpc.insecure_channel(self.stack.address("envoy")) as channel:
            reads = self.reads(content_service_pb2_grpc.ContentServiceStub(channel))
            index = 0
            while not self.stop.is_set() and time.monotonic() < deadline:
                try:
                    reads[index % len(reads)]()
                except Exception as error:  # every failure is recorded and fails the test
                    with self.lock:
                        self.failures.append(f"{type(error).__name__}: {error}"[:300])
                with self.lock:
                    self.done += 1
                index += 1

    def count(self) -> int:
        with self.lock:
            return self.done


def disrupt(stack: Stack, how: str) -> None:
    if how == "sigkill":
        stack.kill_process("content-2")
    else:
        stack.restart_process("content-2")


@pytest.mark.parametrize("how", ["sigkill", "restart"])
def test_no_read_is_lost_while_a_replica_dies_or_restarts(
    stack: Stack, make_token: Callable[..., str], textbook: Textbook, how: str
) -> None:
    assert stack.replicas_of("content") == ["content", "content-2"]
    replica_ports = {stack.port("content"), stack.port("content-2")}
    wait_for(lambda: healthy_endpoints(stack) == replica_ports, "Envoy to see both replicas healthy")
    before = envoy_stats(stack)
    load = Load(stack, make_token("replica-reader", "teacher"), str(textbook.book_id))
    threads = [threading.Thread(target=load.run) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: load.count() >= CALLS_BEFORE or bool(load.failures), "reads before the disruption")
        disrupt(stack, how)
        if how == "sigkill":
            # Keep reading until Envoy has noticed: a retried call, an ejection or a failed health check.
            def noticed() -> bool:
                now = envoy_stats(stack)
                return any(now.get(f"cluster.content.{name}", 0) > before.get(f"cluster.content.{name}", 0)
                           for name in ("upstream_rq_retry", "outlier_detection.ejections_enforced_total",
                                        "health_check.failure"))

            wait_for(noticed, "Envoy to notice the dead replica")
        after = load.count()
        wait_for(lambda: load.count() >= after + CALLS_AFTER or bool(load.failures), "reads after the disruption")
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(60)
        if "content-2" not in stack.dead_processes() and "content-2" not in stack._procs:
            stack.start_process("content-2")
    assert load.failures == [], f"{len(load.failures)} of {load.done} reads failed: {load.failures[:5]}"
    assert load.done >= CALLS_BEFORE + CALLS_AFTER
    # Both replicas serve again (the killed one was started anew), and Envoy routes to both.
    wait_for(lambda: healthy_endpoints(stack) == replica_ports, "Envoy to see both replicas healthy again")
