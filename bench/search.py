"""SearchContent over gRPC against the same search in process, and recall against exact search.

The baseline runs ContentService's own use case (`content_svc.usecases.ContentUseCases.search`: the
same SQL through psycopg, the same embedder, vector cache, catalogue and fusion) in the benchmark's
process, with a pool sized like the service's. So the ratio is what gRPC, auth and the servicer add.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from bench.harness import ConnectionPerThread, auth, channel, ratio, run_load
from common.settings import Settings
from content_svc.__main__ import use_cases
from content_svc.contract import Embedder
from content_svc.repository import configure_connection
from content_svc.rules.types import SearchMode, SearchQuery
from devstack import Stack
from teaching.content.v1 import content_service_pb2 as pb
from teaching.content.v1 import content_service_pb2_grpc

TOP_K = 10


@dataclass(frozen=True)
class LoadPlan:
    """Per concurrency level: at most this many requests, and at most this many seconds."""

    levels: tuple[int, ...] = (1, 8, 32)
    requests: tuple[int, ...] = (150, 300, 480)
    max_seconds: float = 15.0


@dataclass(frozen=True)
class SearchTarget:
    label: str
    book_ids: list[uuid.UUID]
    atoms: int
    queries: list[str]


class RawSearch:
    """The service's search without gRPC: its use case, in this process."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self._resources = contextlib.ExitStack()
        self.settings = settings
        self.service = use_cases(settings, self._resources, pool_name="bench-raw")
        self.embedder = embedder

    def search(
        self, book_ids: Sequence[uuid.UUID], text: str, top_k: int = TOP_K, mode: SearchMode = SearchMode.HYBRID
    ) -> list[uuid.UUID]:
        """The results' atom ids, best first."""
        hits = self.service.search(SearchQuery(book_ids=list(book_ids), text=text, top_k=top_k, mode=mode))
        return [hit.atom.atom_id for hit in hits]

    def close(self) -> None:
        self._resources.close()


def grpc_request(target: SearchTarget, text: str, mode: int = pb.SEARCH_MODE_HYBRID) -> pb.SearchContentRequest:
    return pb.SearchContentRequest(
        query=text, book_ids=[str(b) for b in target.book_ids], top_k=TOP_K,
        mode=pb.SearchMode.ValueType(mode),
    )


def bench_latency(stack: Stack, raw: RawSearch, target: SearchTarget, plan: LoadPlan) -> dict[str, Any]:
    metadata = auth(stack, "bench-search")
    queries = target.queries
    requests = [grpc_request(target, q) for q in queries]
    address = stack.address("content")

    def via_sql(i: int) -> object:
        return raw.search(target.book_ids, queries[i % len(queries)])

    def first_call(stub: content_service_pb2_grpc.ContentServiceStub) -> object:
        return stub.SearchContent(requests[0], metadata=metadata, timeout=120)

    # Both paths must answer the same thing, or the comparison means nothing.
    with channel(address) as check_channel:
        stub = content_service_pb2_grpc.ContentServiceStub(check_channel)
        same = sum(
            [uuid.UUID(r.atom_id) for r in stub.SearchContent(requests[i], metadata=metadata, timeout=120).results]
            == via_sql(i)
            for i in range(min(5, len(queries)))
        )
    runs = []
    for level, count in zip(plan.levels, plan.requests, strict=True):
        # Each client thread is a client of its own, on its own connection opened before the run (as
        # Envoy's workers or several backends would be): one shared channel serialises the client and
        # reaches one server process.
        clients = ConnectionPerThread(address, content_service_pb2_grpc.ContentServiceStub)
        try:
            clients.connect(level, first_call)

            def via_grpc(i: int, clients: ConnectionPerThread = clients) -> object:
                return clients.stub().SearchContent(requests[i % len(requests)], metadata=metadata, timeout=120)

            # Alternate which side goes first so neither always runs on a warmer cache.
            order = [("grpc", via_grpc, 0), ("raw_sql", via_sql, 3)]
            if level % 2 == 0:
                order.reverse()
            results = {
                name: run_load(call, concurrency=level, requests=count, max_seconds=plan.max_seconds,
                               warmup=warmup).summary()
                for name, call, warmup in order
            }
        finally:
            clients.close()
        grpc_s, raw_s = results["grpc"], results["raw_sql"]
        runs.append({
            "concurrency": level,
            "grpc": grpc_s,
            "raw_sql": raw_s,
            "ratio_p50": ratio(grpc_s["p50_ms"], raw_s["p50_ms"]),
            "ratio_p95": ratio(grpc_s["p95_ms"], raw_s["p95_ms"]),
            "ratio_p99": ratio(grpc_s["p99_ms"], raw_s["p99_ms"]),
            "ratio_throughput": ratio(grpc_s["throughput_rps"], raw_s["throughput_rps"]),
        })
    return {
        "atoms": target.atoms,
        "books": len(target.book_ids),
        "mode": "HYBRID",
        "top_k": TOP_K,
        "queries": len(queries),
        "same_results_checked": min(5, len(queries)),
        "same_results": same,
        "runs": runs,
    }


# --- recall ------------------------------------------------------------------------------------


# Exact search: `embedding <=> q` without the cast the HNSW indexes are built on, fenced by OFFSET 0,
# so Postgres reads every vector of the scope and sorts (the harness EXPLAINs it to be sure).
_EXACT = """SELECT book_id, ordinal, similarity FROM (
                SELECT b.book_id, v.ordinal, 1 - (v.embedding <=> %(q)s::halfvec) AS similarity
                FROM atom_vectors v JOIN books b USING (book_no) WHERE b.book_id = ANY(%(books)s) OFFSET 0) s
            ORDER BY similarity DESC LIMIT %(k)s"""


# The exact similarity of given atoms to the query, as _EXACT computes it.
_SIMILARITIES = """SELECT 1 - (v.embedding <=> %(q)s::halfvec)
                   FROM unnest(%(books)s::uuid[], %(ordinals)s::int[]) k(book_id, ordinal)
                   JOIN books b USING (book_id)
                   JOIN atom_vectors v ON v.book_no = b.book_no AND v.ordinal = k.ordinal"""


def exact_kth(conn: psycopg.Connection[Any], book_ids: Sequence[uuid.UUID], vector: Any) -> tuple[float, int] | None:
    """The exact 10th best similarity in the scope, and how many atoms the exact top holds (<= 10)."""
    rows = conn.execute(_EXACT, {"q": vector, "books": list(book_ids), "k": TOP_K}).fetchall()
    return (rows[-1][2], len(rows)) if rows else None


def found_among_best(conn: psycopg.Connection[Any], keys: Sequence[tuple[uuid.UUID, int]], vector: Any,
                     kth: float) -> int:
    """How many of `keys` are as similar as the exact 10th best (to 1e-4: half precision). Compared by
    similarity, not identity: a library may hold the same passage many times (the realistic generator
    resamples sentences), and any of its tied copies is a right answer."""
    rows = conn.execute(_SIMILARITIES, {"q": vector, "books": [k[0] for k in keys],
                                        "ordinals": [k[1] for k in keys]}).fetchall()
    return sum(similarity >= kth - 1e-4 for (similarity,) in rows)


def bench_recall(
    raw: RawSearch, scopes: Sequence[Sequence[uuid.UUID]], queries: list[str], *, library_wide: bool = False
) -> dict[str, Any]:
    """recall@10 of the service's vector search (its use case: in process, exact scan or HNSW, as it
    routes) against an exact scan of the same vectors; query i searches scopes[i % len(scopes)].
    library_wide: the service is asked with no book_ids (every book), the scope being every book."""
    vectors = raw.embedder.embed(queries)
    with psycopg.connect(raw.settings.content_conninfo(), autocommit=True) as conn:
        configure_connection(conn)
        plan = conn.execute(f"EXPLAIN {_EXACT}", {"q": vectors[0], "books": list(scopes[0]), "k": TOP_K}).fetchall()
        if any("hnsw" in str(row[0]).lower() for row in plan):
            raise RuntimeError("exact search plan uses an HNSW index; recall would be meaningless")
        recalls = []
        for i, (query, vector) in enumerate(zip(queries, vectors, strict=True)):
            scope = scopes[i % len(scopes)]
            exact = exact_kth(conn, scope, vector)
            hits = raw.service.search(SearchQuery(book_ids=[] if library_wide else list(scope), text=query,
                                                  top_k=TOP_K, mode=SearchMode.VECTOR))
            if exact is None:
                recalls.append(1.0)
                continue
            kth, best = exact
            found = found_among_best(conn, [(hit.atom.book_id, hit.atom.ordinal) for hit in hits], vector, kth)
            recalls.append(min(found, best) / best)
    return {"k": TOP_K, "exact_plan_uses_hnsw": False, "books": len(scopes[0]), "queries": len(recalls),
            "recall_at_10": round(sum(recalls) / len(recalls), 4), "min": round(min(recalls), 2)}
