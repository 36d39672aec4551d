"""The same search as JSON through Envoy (POST /v1/content:search) against direct gRPC.

Calls are interleaved one by one (direct gRPC, gRPC through Envoy, JSON through Envoy), so all three
see the same database and cache state; the JSON client keeps one HTTP/1.1 connection open, as a
browser would.
"""

from __future__ import annotations

import http.client
import json
import time
from typing import Any

from bench.harness import auth, channel
from bench.search import SearchTarget, grpc_request
from devstack import Stack
from teaching.content.v1 import content_service_pb2_grpc


def _summary(values: list[float]) -> dict[str, float]:
    import numpy

    p50, p95, p99 = numpy.percentile(numpy.asarray(values), [50, 95, 99])
    return {"p50_ms": round(float(p50), 3), "p95_ms": round(float(p95), 3), "p99_ms": round(float(p99), 3),
            "requests": len(values)}


def bench_envoy(stack: Stack, target: SearchTarget, *, requests: int) -> dict[str, Any]:
    metadata = auth(stack, "bench-envoy")
    token = metadata[0][1]
    host, port = stack.address("envoy").split(":")
    bodies = [
        json.dumps({"query": q, "bookIds": [str(b) for b in target.book_ids], "topK": 10, "mode": "SEARCH_MODE_HYBRID"})
        for q in target.queries
    ]
    grpc_requests = [grpc_request(target, q) for q in target.queries]
    timings: dict[str, list[float]] = {"grpc_direct": [], "grpc_via_envoy": [], "json_via_envoy": []}
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    headers = {"authorization": token, "content-type": "application/json"}
    try:
        with channel(stack.address("content")) as direct, channel(stack.address("envoy")) as fronted:
            direct_stub = content_service_pb2_grpc.ContentServiceStub(direct)
            fronted_stub = content_service_pb2_grpc.ContentServiceStub(fronted)

            def json_call(i: int) -> int:
                connection.request("POST", "/v1/content:search", body=bodies[i % len(bodies)], headers=headers)
                response = connection.getresponse()
                payload = json.loads(response.read())
                if response.status != 200:
                    raise RuntimeError(f"envoy answered {response.status}: {payload}")
                return len(payload.get("results", []))

            calls = {
                "grpc_direct": lambda i: len(direct_stub.SearchContent(
                    grpc_requests[i % len(grpc_requests)], metadata=metadata, timeout=60).results),
                "grpc_via_envoy": lambda i: len(fronted_stub.SearchContent(
                    grpc_requests[i % len(grpc_requests)], metadata=metadata, timeout=60).results),
                "json_via_envoy": json_call,
            }
            counts = {name: call(0) for name, call in calls.items()}  # warm-up, and the same answer size
            if len(set(counts.values())) != 1:
                raise RuntimeError(f"the three paths returned different result counts: {counts}")
            for i in range(requests):
                for name, call in calls.items():
                    start = time.perf_counter()
                    call(i)
                    timings[name].append((time.perf_counter() - start) * 1000)
    finally:
        connection.close()
    summaries = {name: _summary(values) for name, values in timings.items()}
    direct_summary = summaries["grpc_direct"]
    return {
        "atoms": target.atoms,
        "books": len(target.book_ids),
        "concurrency": 1,
        **summaries,
        "json_added_ms_p50": round(summaries["json_via_envoy"]["p50_ms"] - direct_summary["p50_ms"], 3),
        "json_added_ms_p99": round(summaries["json_via_envoy"]["p99_ms"] - direct_summary["p99_ms"], 3),
        "grpc_added_ms_p50": round(summaries["grpc_via_envoy"]["p50_ms"] - direct_summary["p50_ms"], 3),
        "grpc_added_ms_p99": round(summaries["grpc_via_envoy"]["p99_ms"] - direct_summary["p99_ms"], 3),
    }
