"""SearchContent over gRPC against the same SQL through psycopg, and HNSW recall against exact search.

The baseline calls content_svc.repository's functions (literally the service's SQL) in the service's
order, embeds the query with the same embedder, and fuses with the service's own fusion rule, on
a pool sized like the service's. So the ratio is what gRPC, auth and the servicer add on top.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import Connection
from psycopg_pool import ConnectionPool

from bench.harness import auth, channel, ratio, run_load
from common.db import content_pool
from common.settings import Settings
from content_svc.contract import Embedder
from content_svc.repository import books, configure_connection, retrieval
from content_svc.rules.search import FusionWeights, fuse
from content_svc.rules.types import Candidate
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
    """The service's hybrid search, minus gRPC: same repository calls, same embedder, same fusion."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.pool: ConnectionPool[Connection[Any]] = content_pool(
            settings, name="bench-raw", configure=configure_connection
        )
        self.embedder = embedder
        self._fusion = FusionWeights()

    def search(self, book_ids: Sequence[uuid.UUID], text: str, top_k: int = TOP_K) -> list[uuid.UUID]:
        depth = max(top_k, self._fusion.depth)
        with self.pool.connection() as conn:
            found = books.get_ready_books(conn, book_ids)
            dimension = next(iter(found.values())).embedding_dimension
            vector = self.embedder.embed([text])[0]
            vector_ranking = retrieval.vector_candidates(conn, book_ids, dimension, vector, depth, None)
            lexemes = retrieval.query_lexemes(conn, text)
            text_ranking = retrieval.bm25_candidates(conn, book_ids, lexemes, depth, None)
            ranked = fuse(vector_ranking, text_ranking, self._fusion)[:top_k]
            atoms = books.atoms_by_keys(conn, [(book_id, atom_id) for book_id, atom_id, _ in ranked])
        return [atom_id for book_id, atom_id, _ in ranked if (book_id, atom_id) in atoms]

    def close(self) -> None:
        self.pool.close()


def grpc_request(target: SearchTarget, text: str, mode: int = pb.SEARCH_MODE_HYBRID) -> pb.SearchContentRequest:
    return pb.SearchContentRequest(
        query=text, book_ids=[str(b) for b in target.book_ids], top_k=TOP_K,
        mode=pb.SearchMode.ValueType(mode),
    )


def bench_latency(stack: Stack, raw: RawSearch, target: SearchTarget, plan: LoadPlan) -> dict[str, Any]:
    metadata = auth(stack, "bench-search")
    queries = target.queries
    requests = [grpc_request(target, q) for q in queries]
    with channel(stack.address("content")) as grpc_channel:
        stub = content_service_pb2_grpc.ContentServiceStub(grpc_channel)

        def via_grpc(i: int) -> object:
            return stub.SearchContent(requests[i % len(requests)], metadata=metadata, timeout=120)

        def via_sql(i: int) -> object:
            return raw.search(target.book_ids, queries[i % len(queries)])

        # Both paths must answer the same thing, or the comparison means nothing.
        same = sum(
            [uuid.UUID(r.atom_id) for r in via_grpc(i).results] == via_sql(i)  # type: ignore[attr-defined]
            for i in range(min(5, len(queries)))
        )
        runs = []
        for level, count in zip(plan.levels, plan.requests, strict=True):
            # Alternate which side goes first so neither always runs on a warmer cache.
            order = [("grpc", via_grpc), ("raw_sql", via_sql)]
            if level % 2 == 0:
                order.reverse()
            results = {
                name: run_load(call, concurrency=level, requests=count, max_seconds=plan.max_seconds).summary()
                for name, call in order
            }
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


# Exact search: `embedding <=> q` without the cast matches no HNSW expression index, so Postgres reads
# every atom of the scope and sorts. (Postgres 18 no longer leaves an index for `enable_indexscan = off`:
# it keeps the cheapest path and marks it "Disabled: true", so that switch cannot force an exact scan.)
_EXACT = """SELECT book_id, atom_id, 1 - (embedding <=> %(q)s) AS similarity FROM content_atoms
            WHERE book_id = ANY(%(books)s) ORDER BY embedding <=> %(q)s, atom_id LIMIT %(k)s"""


def _vector_search(
    conn: Connection[Any], book_ids: Sequence[uuid.UUID], dimension: int, vector: Any, exact: bool
) -> list[Candidate]:
    with conn.transaction():
        if not exact:
            return retrieval.vector_candidates(conn, book_ids, dimension, vector, TOP_K, None)
        rows = conn.execute(_EXACT, {"q": vector, "books": list(book_ids), "k": TOP_K}).fetchall()
        return [Candidate(row[0], row[1], float(row[2])) for row in rows]


def _exact_plan_uses_hnsw(conn: Connection[Any], book_id: uuid.UUID, dimension: int, vector: Any) -> bool:
    rows = conn.execute(f"EXPLAIN {_EXACT}", {"q": vector, "books": [book_id], "k": TOP_K}).fetchall()
    return any("hnsw" in str(row[0]).lower() for row in rows)


def _recall(approx: list[Candidate], exact: list[Candidate]) -> float:
    """Share of the exact top-k the index found; ties at the k-th distance count as found."""
    if not exact:
        return 1.0
    kth_similarity = exact[-1][2]
    found = sum(1 for _, _, similarity in approx if similarity >= kth_similarity - 1e-6)
    return min(found, len(exact)) / len(exact)


def bench_recall(
    settings: Settings, embedder: Embedder, scopes: Sequence[Sequence[uuid.UUID]], queries: list[str]
) -> dict[str, Any]:
    """recall@10 of the service's vector search against an exact scan of the same vectors;
    query i searches scopes[i % len(scopes)] (e.g. a different single book per query)."""
    vectors = embedder.embed(queries)
    with psycopg.connect(settings.content_conninfo()) as conn:
        configure_connection(conn)
        uses_hnsw = _exact_plan_uses_hnsw(conn, scopes[0][0], embedder.dimension, vectors[0])
        if uses_hnsw:
            raise RuntimeError("exact search plan still uses the HNSW index; recall would be meaningless")
        recalls = []
        for i, vector in enumerate(vectors):
            scope = scopes[i % len(scopes)]
            recalls.append(_recall(_vector_search(conn, scope, embedder.dimension, vector, False),
                                   _vector_search(conn, scope, embedder.dimension, vector, True)))
    return {"k": TOP_K, "exact_plan_uses_hnsw": uses_hnsw, "books": len(scopes[0]), "queries": len(recalls),
            "recall_at_10": round(sum(recalls) / len(recalls), 4), "min": round(min(recalls), 2)}
