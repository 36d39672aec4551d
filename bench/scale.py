"""`python -m bench --scale` (`make bench-scale`): the realistic library at 1M atoms (1,000 books x
1,000 atoms). Load time, where it goes (pg_stat_statements: the COPYs, the vectors' COPY with the
HNSW index maintained, the posting lists), the size of what is stored, the memory of Postgres, and
HYBRID search p50 over gRPC at concurrency 1 (cold: other random books each query; warm: the same
books again) with recall@10 at 1, 5 and 100 books and the whole library (no book_ids). Not part of
`make test`.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import numpy
import psutil
import psycopg

from bench import library
from bench.harness import Stopwatch, auth, channel, settle
from bench.search import RawSearch, bench_recall
from content_svc.contract import Embedder
from content_svc.repository.library import CONTENT_TABLES
from devstack import Stack
from teaching.content.v1 import content_service_pb2 as pb
from teaching.content.v1 import content_service_pb2_grpc

log = logging.getLogger("bench")
LOAD_BATCH = 100  # books per logged step


def _statement_seconds(conn: psycopg.Connection[Any]) -> dict[str, float]:
    rows = conn.execute(
        """SELECT CASE WHEN query ILIKE 'COPY atom_vectors%%' THEN 'vectors_copy_and_hnsw'
                       WHEN query ILIKE 'COPY%%' THEN 'copy_atoms_and_nodes'
                       WHEN query ILIKE '%%build_postings%%' THEN 'postings'
                       WHEN query ILIKE '%%build_vector_block%%' THEN 'vector_blocks'
                       ELSE 'other' END AS kind,
                  sum(total_exec_time) / 1000
           FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
           GROUP BY 1"""
    ).fetchall()
    return {kind: round(float(seconds), 1) for kind, seconds in rows}


def _sizes(conn: psycopg.Connection[Any]) -> dict[str, float]:
    mib = 2**20
    row = conn.execute(
        """SELECT pg_database_size(current_database()),
                  coalesce(sum(pg_relation_size(c.oid)) FILTER (WHERE c.relkind = 'r'), 0),
                  coalesce(sum(pg_relation_size(c.reltoastrelid)) FILTER (WHERE c.relkind = 'r'), 0),
                  coalesce(sum(pg_relation_size(c.oid)) FILTER (WHERE am.amname = 'hnsw'), 0),
                  coalesce(sum(pg_relation_size(c.oid)) FILTER (WHERE am.amname = 'btree'), 0),
                  coalesce(sum(pg_total_relation_size(c.oid)) FILTER (WHERE c.relname = 'postings'), 0),
                  coalesce(sum(pg_total_relation_size(c.oid)) FILTER (WHERE c.relname = 'atom_vectors'), 0),
                  coalesce(sum(pg_total_relation_size(c.oid)) FILTER (WHERE c.relname = 'vector_blocks'), 0)
           FROM pg_class c LEFT JOIN pg_am am ON am.oid = c.relam
           LEFT JOIN pg_index i ON i.indexrelid = c.oid
           WHERE c.relname = ANY(%(tables)s) OR i.indrelid::regclass::text = ANY(%(tables)s)""",
        {"tables": list(CONTENT_TABLES)},
    ).fetchone()
    assert row is not None
    names = ("database", "tables", "toast", "hnsw_indexes", "btree_indexes", "postings_total", "vectors_total",
             "vector_blocks_total")
    return {f"{name}_mib": round(int(value) / mib, 1) for name, value in zip(names, row, strict=True)}


def _postgres_memory(stack: Stack) -> dict[str, float]:
    """Proportional set size of the cluster's processes (shared buffers counted once), and our own RSS."""
    total = 0
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] != "postgres":
            continue
        try:
            if str(stack.data_dir) in " ".join(process.info["cmdline"] or []) or any(
                str(stack.data_dir) in str(parent.cmdline()) for parent in process.parents()
            ):
                total += process.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return {"postgres_pss_mib": round(total / 2**20, 1),
            "bench_rss_mib": round(psutil.Process().memory_info().rss / 2**20, 1)}


def bench_scale(stack: Stack, embedder: Embedder, *, books: int, atoms_per_book: int,
                scope_sizes: tuple[int, ...], queries: int, recall_queries: int) -> dict[str, Any]:
    conninfo = stack.settings.content_conninfo()
    corpus = library.RealisticCorpus.create(library.LIBRARY_PDF)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("SELECT pg_stat_statements_reset()")
    book_ids: list[uuid.UUID] = []
    steps = []
    total = Stopwatch()
    for first in range(0, books, LOAD_BATCH):
        watch = Stopwatch()
        count = min(LOAD_BATCH, books - first)
        loaded = library.load_realistic_books(conninfo, corpus, embedder, books=count, atoms_per_book=atoms_per_book,
                                              first_index=first, keep=False)
        book_ids += [book.book_id for book in loaded]
        steps.append(round(watch.seconds(), 1))
        log.info("scale: %d books loaded (%.1fs for the last %d)", len(book_ids), watch.seconds(), count)
    load_seconds = total.seconds()
    log.info("scale: settled in %.1fs", settle(conninfo))
    with psycopg.connect(conninfo) as conn:
        statements = _statement_seconds(conn)
        sizes = _sizes(conn)
    result: dict[str, Any] = {
        "books": books, "atoms": books * atoms_per_book,
        "load_seconds": round(load_seconds, 1), "load_seconds_per_100_books": steps,
        "statement_seconds": statements, "sizes": sizes, "memory": _postgres_memory(stack), "search": [],
    }
    metadata = auth(stack, "bench-scale")
    texts = corpus.queries(queries)
    # recall from 10 queries swung from 0.70 to 0.96 between query sets at 1M atoms: a query of common
    # words ("raised if the") can miss all of its ties; 100 give a figure within a few points.
    recall_texts = corpus.queries(recall_queries)
    raw = RawSearch(stack.settings, embedder)
    try:
        with channel(stack.address("content")) as grpc_channel:
            stub = content_service_pb2_grpc.ContentServiceStub(grpc_channel)

            def p50(scopes: list[list[uuid.UUID]]) -> float:
                latencies = []
                for i, text in enumerate(texts):
                    request = pb.SearchContentRequest(query=text, book_ids=[str(b) for b in scopes[i % len(scopes)]],
                                                      top_k=10, mode=pb.SEARCH_MODE_HYBRID)
                    watch = Stopwatch()
                    stub.SearchContent(request, metadata=metadata, timeout=600)
                    latencies.append(watch.seconds() * 1000)
                return round(float(numpy.median(latencies)), 1)

            for size in (*scope_sizes, 0):  # 0: the whole library, no book_ids
                scopes = library.scopes(book_ids, size, queries) if size else [[]]
                # Cold: every query another random choice of books, which no server process may have
                # read yet. Warm: one choice asked again and again (a teacher's class), after one call.
                cold = p50(scopes)
                p50(scopes[:1])  # warming up: its books' vectors read
                warm = p50(scopes[:1])
                recall = bench_recall(raw, scopes if size else [book_ids], recall_texts,
                                      library_wide=not size)
                result["search"].append({"books": size or books, "library_wide": not size,
                                         "hybrid_p50_ms": cold, "warm_hybrid_p50_ms": warm,
                                         "queries": len(texts), "recall_at_10": recall["recall_at_10"],
                                         "recall_queries": recall["queries"]})
                log.info("scale: search over %s done", f"{size} books" if size else "the whole library")
    finally:
        raw.close()
    result["memory_after_search"] = _postgres_memory(stack)
    return result
