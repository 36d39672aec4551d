"""Prototype of the phase-2 retrieval design (issue 11), measured, not built into content_svc.

    python -m bench.prototype_retrieval [--books 100] [--queries 60] [--out /tmp/prototype.json]

On its own bench stack it loads the realistic library (bench/library.py) through content_svc's
loader, derives the prototype's tables from it with SQL (what a loader would write at load time),
and measures, at 1, 5 and all books, against the current service statements in the same run:

(a) BM25 from statistics computed at load: postings (lexeme, book_no, ord, tf, dl), per-book
    document frequencies (lexeme, book_no, df) and per-book N and token total; one index probe per
    query term; one SQL statement; its top 10 compared for identical rankings with rank_bm25 over
    the same tokens (Postgres' english stemming and stop words; idf log(1 + (N - df + 0.5)/(df + 0.5))).
(b) vectors: the current per-book HNSW union; an exact scan of a compact halfvec copy (with and
    without parallel workers); binary quantisation + exact re-rank; one global HNSW with pgvector 0.8
    iterative scans and a book filter; the routed choice (exact up to a scope size, HNSW above);
    an in-process numpy matrix. recall@10 of each against an exact float32 scan of the same vectors.
(c) one statement: candidates (vector + BM25) + fusion + the rows with their stored node path.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy
import psycopg
from pgvector.psycopg import register_vector

from bench import library
from bench.harness import Stopwatch, auth, bench_stack, channel, machine, run_load
from bench.search import RawSearch
from content_svc.embedding import embedder_from_settings
from content_svc.repository import retrieval
from teaching.content.v1 import content_service_pb2 as pb
from teaching.content.v1 import content_service_pb2_grpc

log = logging.getLogger("prototype")
T = TypeVar("T")
K1, B = 1.2, 0.75
TOP_K, DEPTH = 10, 50
EXACT_MAX_ATOMS = 10_000  # routed vector search: exact scan up to this many atoms in scope, HNSW above
EF_SEARCH = 200

SCHEMA = """
DROP TABLE IF EXISTS p_books, p_atoms, p_vectors, p_postings, p_terms;
CREATE TABLE p_books (book_id uuid PRIMARY KEY, book_no int NOT NULL UNIQUE, n int NOT NULL, total_len bigint NOT NULL);
CREATE TABLE p_atoms (
    book_no int NOT NULL, ord int NOT NULL, atom_id uuid NOT NULL, book_id uuid NOT NULL, node_id uuid NOT NULL,
    page_number int NOT NULL, text text NOT NULL, node_path text[] NOT NULL, dl int NOT NULL,
    emb halfvec(384) NOT NULL, bq bit(384) NOT NULL,
    PRIMARY KEY (book_no, ord));
-- Vectors apart from the rows: a narrow copy whose primary key carries the vector (exact scans of a few
-- books are index-only range scans), with one global HNSW index for scans of many books.
CREATE TABLE p_vectors (book_no int NOT NULL, ord int NOT NULL, emb halfvec(384) NOT NULL,
    PRIMARY KEY (book_no, ord) INCLUDE (emb));
CREATE TABLE p_postings (lexeme text NOT NULL, book_no int NOT NULL, ord int NOT NULL, tf int2 NOT NULL,
    dl int2 NOT NULL, PRIMARY KEY (lexeme, book_no, ord) INCLUDE (tf, dl));
CREATE TABLE p_terms (lexeme text NOT NULL, book_no int NOT NULL, df int NOT NULL,
    PRIMARY KEY (lexeme, book_no) INCLUDE (df));
"""

BUILD = [
    ("books", """INSERT INTO p_books SELECT b.book_id, row_number() OVER (ORDER BY b.create_time, b.book_id), 0, 0
                 FROM books b WHERE b.status = 'ready'"""),
    ("atoms", """INSERT INTO p_atoms
                 SELECT pb.book_no, a.ordinal, a.atom_id, a.book_id, a.node_id, a.page_number, a.text, n.path_titles,
                        coalesce((SELECT sum(coalesce(array_length(u.positions, 1), 1)) FROM unnest(a.tsv) u), 0),
                        a.embedding::vector(384)::halfvec(384), binary_quantize(a.embedding::vector(384))::bit(384)
                 FROM content_atoms a JOIN p_books pb USING (book_id)
                 JOIN structure_nodes n ON n.book_id = a.book_id AND n.node_id = a.node_id
                 ORDER BY pb.book_no, a.ordinal"""),
    ("vectors", "INSERT INTO p_vectors SELECT book_no, ord, emb FROM p_atoms ORDER BY book_no, ord"),
    ("postings", """INSERT INTO p_postings
                    SELECT u.lexeme, pb.book_no, a.ordinal, coalesce(array_length(u.positions, 1), 1), pa.dl
                    FROM content_atoms a JOIN p_books pb USING (book_id)
                    JOIN p_atoms pa ON pa.book_no = pb.book_no AND pa.ord = a.ordinal
                    CROSS JOIN LATERAL unnest(a.tsv) u
                    ORDER BY 1, 2, 3"""),
    ("terms", "INSERT INTO p_terms SELECT lexeme, book_no, count(*) FROM p_postings GROUP BY 1, 2 ORDER BY 1, 2"),
    ("book stats", """UPDATE p_books b SET n = s.n, total_len = s.total_len
                      FROM (SELECT book_no, count(*) AS n, sum(dl) AS total_len FROM p_atoms GROUP BY 1) s
                      WHERE s.book_no = b.book_no"""),
    ("hnsw (global, halfvec, m 24, ef_construction 200)",
     """CREATE INDEX p_vectors_hnsw ON p_vectors USING hnsw (emb halfvec_cosine_ops)
        WITH (m = 24, ef_construction = 200)"""),
    ("vacuum analyze", "VACUUM (ANALYZE) p_books, p_atoms, p_vectors, p_postings, p_terms"),
]

# (a) BM25 in one statement: df and N summed over the searched books, one index probe per term.
BM25 = """
WITH stats AS (
    SELECT sum(n)::float8 AS n, sum(total_len)::float8 / sum(n) AS avgdl FROM p_books WHERE book_no = ANY(%(books)s)
), idf AS (
    SELECT t.lexeme, ln(1 + (s.n - sum(t.df)::float8 + 0.5) / (sum(t.df)::float8 + 0.5)) AS idf
    FROM p_terms t CROSS JOIN stats s
    WHERE t.lexeme = ANY(%(terms)s) AND t.book_no = ANY(%(books)s)
    GROUP BY t.lexeme, s.n
)
SELECT p.book_no, p.ord,
       sum(i.idf * p.tf * (%(k1)s + 1) / (p.tf + %(k1)s * (1 - %(b)s + %(b)s * p.dl / s.avgdl))) AS score
FROM p_postings p JOIN idf i USING (lexeme) CROSS JOIN stats s
WHERE p.lexeme = ANY(%(terms)s) AND p.book_no = ANY(%(books)s)
GROUP BY p.book_no, p.ord
ORDER BY score DESC, p.book_no, p.ord
LIMIT %(limit)s
"""

# OFFSET 0 fences the scan: the ORDER BY cannot be served by the HNSW index, so this is always exact
# (an index-only range scan of the books' vectors, then a top-N sort).
VECTOR_EXACT = """SELECT book_no, ord FROM (
                      SELECT book_no, ord, emb <=> %(q)s::halfvec(384) AS d FROM p_vectors
                      WHERE book_no = ANY(%(books)s) OFFSET 0) s
                  ORDER BY d, book_no, ord LIMIT %(limit)s"""
VECTOR_BINARY = """SELECT book_no, ord FROM (
                       SELECT book_no, ord, emb FROM p_atoms WHERE book_no = ANY(%(books)s)
                       ORDER BY bq <~> binary_quantize(%(q)s::halfvec(384))::bit(384) LIMIT %(oversample)s) c
                   ORDER BY emb <=> %(q)s::halfvec(384), book_no, ord LIMIT %(limit)s"""
# relaxed_order returns neighbours roughly by distance: take ef_search of them, re-sort, keep the limit.
VECTOR_HNSW = """SELECT book_no, ord FROM (
                     SELECT book_no, ord, emb <=> %(q)s::halfvec(384) AS d FROM p_vectors WHERE book_no = ANY(%(books)s)
                     ORDER BY emb <=> %(q)s::halfvec(384) LIMIT %(ef)s) c
                 ORDER BY d, book_no, ord LIMIT %(limit)s"""


def hybrid_statement(vector_source: str) -> str:
    """(c) Candidates from both rankers, RRF fusion (text 1.0, vector 0.5, k 60; text candidates under 20%
    of the best BM25 score dropped, as the service does), and the rows with their stored path: one statement."""
    return f"""
WITH vec AS (
    SELECT book_no, ord, row_number() OVER () AS r FROM ({vector_source}) v
), stats AS (
    SELECT sum(n)::float8 AS n, sum(total_len)::float8 / sum(n) AS avgdl FROM p_books WHERE book_no = ANY(%(books)s)
), idf AS (
    SELECT t.lexeme, ln(1 + (s.n - sum(t.df)::float8 + 0.5) / (sum(t.df)::float8 + 0.5)) AS idf
    FROM p_terms t CROSS JOIN stats s WHERE t.lexeme = ANY(%(terms)s) AND t.book_no = ANY(%(books)s)
    GROUP BY t.lexeme, s.n
), txt AS (
    SELECT p.book_no, p.ord,
           sum(i.idf * p.tf * (%(k1)s + 1) / (p.tf + %(k1)s * (1 - %(b)s + %(b)s * p.dl / s.avgdl))) AS score
    FROM p_postings p JOIN idf i USING (lexeme) CROSS JOIN stats s
    WHERE p.lexeme = ANY(%(terms)s) AND p.book_no = ANY(%(books)s)
    GROUP BY p.book_no, p.ord ORDER BY score DESC, p.book_no, p.ord LIMIT %(limit)s
), txt_ranked AS (
    SELECT book_no, ord, row_number() OVER (ORDER BY score DESC, book_no, ord) AS r,
           score >= 0.2 * max(score) OVER () AS counts
    FROM txt
), fused AS (
    SELECT book_no, ord, sum(w / (60 + r)) AS score FROM (
        SELECT book_no, ord, 0.5::float8 AS w, r FROM vec
        UNION ALL SELECT book_no, ord, 1.0::float8, r FROM txt_ranked WHERE counts) f
    GROUP BY book_no, ord ORDER BY score DESC, book_no, ord LIMIT %(top_k)s
)
SELECT a.atom_id, a.book_id, a.node_id, a.text, a.page_number, a.node_path, f.score
FROM fused f JOIN p_atoms a USING (book_no, ord) ORDER BY f.score DESC, f.book_no, f.ord
"""


def p50(values: Sequence[float]) -> float:
    return round(statistics.median(values), 3)


def timed(into: dict[str, list[float]], name: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """call(*args, **kwargs), its milliseconds appended to into[name]."""
    start = time.perf_counter()
    result = call(*args, **kwargs)
    into.setdefault(name, []).append((time.perf_counter() - start) * 1000)
    return result


class Prototype:
    def __init__(self, conninfo: str, books: list[library.LoadedBook]) -> None:
        self.conn = psycopg.connect(conninfo, autocommit=True)
        register_vector(self.conn)
        self.conn.execute("SET jit = off")
        self.books = books
        self.book_no: dict[uuid.UUID, int] = {}
        self.build_seconds: dict[str, float] = {}

    def build(self) -> dict[str, Any]:
        self.conn.execute("SET maintenance_work_mem = '1GB'")
        for statement in SCHEMA.split(";"):
            if statement.strip():
                self.conn.execute(statement)
        for name, statement in BUILD:
            watch = Stopwatch()
            self.conn.execute(statement)
            self.build_seconds[name] = round(watch.seconds(), 1)
            log.info("built %s in %.1fs", name, watch.seconds())
        self.book_no = dict(self.conn.execute("SELECT book_id, book_no FROM p_books").fetchall())
        sizes: dict[str, Any] = dict(self.conn.execute(
            """SELECT relname, pg_total_relation_size(oid) / 1048576.0 FROM pg_class WHERE relname IN
               ('p_atoms', 'p_vectors', 'p_postings', 'p_terms', 'p_vectors_hnsw', 'p_vectors_pkey', 'p_postings_pkey',
                'p_terms_pkey')"""
        ).fetchall())
        counts = {table: self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
                  for table in ("p_postings", "p_terms")}
        return {"build_seconds": self.build_seconds, "mib": {k: round(float(v), 1) for k, v in sizes.items()},
                "rows": counts}

    def add_and_delete_a_book(self) -> dict[str, float]:
        """What loading one more book (a copy of book 1) into the shared tables costs, global HNSW
        included, and deleting it again (rows, then VACUUM, which repairs the HNSW graph)."""
        steps: dict[str, float] = {}
        new = int(self.conn.execute("SELECT max(book_no) + 1 FROM p_books").fetchone()[0])  # type: ignore[index]
        for name, statement in (
            ("insert book row", "INSERT INTO p_books SELECT gen_random_uuid(), %(new)s, n, total_len FROM p_books "
                                "WHERE book_no = 1"),
            ("insert atoms", "INSERT INTO p_atoms SELECT %(new)s, ord, gen_random_uuid(),"
             " book_id, node_id, page_number, text, node_path, dl, emb, bq FROM p_atoms WHERE book_no = 1"),
            ("insert vectors (PK + global HNSW maintained)", "INSERT INTO p_vectors SELECT %(new)s, ord, emb "
                                                             "FROM p_vectors WHERE book_no = 1"),
            ("insert postings", "INSERT INTO p_postings SELECT lexeme, %(new)s, ord, tf, dl FROM p_postings "
                                "WHERE book_no = 1"),
            ("insert terms", "INSERT INTO p_terms SELECT lexeme, %(new)s, df FROM p_terms WHERE book_no = 1"),
            ("delete postings (no index leads with book_no)", "DELETE FROM p_postings WHERE book_no = %(new)s"),
            ("delete terms", "DELETE FROM p_terms WHERE book_no = %(new)s"),
            ("delete atoms", "DELETE FROM p_atoms WHERE book_no = %(new)s"),
            ("delete vectors", "DELETE FROM p_vectors WHERE book_no = %(new)s"),
            ("delete book row", "DELETE FROM p_books WHERE book_no = %(new)s"),
            ("vacuum p_atoms, p_vectors (HNSW repair)", "VACUUM p_atoms, p_vectors"),
            ("vacuum postings and terms", "VACUUM p_postings, p_terms"),
        ):
            watch = Stopwatch()
            self.conn.execute(statement, {"new": new})
            steps[name] = round(watch.seconds(), 2)
        return steps

    def terms(self, text: str) -> list[str]:
        row = self.conn.execute("SELECT tsvector_to_array(to_tsvector('english', %s))", (text,)).fetchone()
        return list(row[0]) if row and row[0] else []

    def run(self, statement: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        return self.conn.execute(statement, params, prepare=True).fetchall()

    def explain(self, statement: str, params: dict[str, Any]) -> str:
        rows = self.conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", params).fetchall()
        return "\n".join(row[0] for row in rows)


def reference_bm25(proto: Prototype, book_nos: list[int], terms: list[str]) -> list[tuple[int, int]]:
    """rank_bm25 over the same tokens (each lexeme repeated tf times), Lucene's non-negative idf."""
    from rank_bm25 import BM25Okapi

    class LuceneIdfBM25(BM25Okapi):  # type: ignore[misc]
        def _calc_idf(self, nd: dict[str, int]) -> None:
            for word, freq in nd.items():
                self.idf[word] = math.log(1 + (self.corpus_size - freq + 0.5) / (freq + 0.5))

    rows = proto.conn.execute(
        """SELECT a.book_no, a.ord, coalesce(array_agg(p.lexeme ORDER BY p.lexeme) FILTER (WHERE p.lexeme IS NOT NULL),
                                               '{}'), coalesce(array_agg(p.tf ORDER BY p.lexeme), '{}')
           FROM p_atoms a LEFT JOIN p_postings p ON p.book_no = a.book_no AND p.ord = a.ord
           WHERE a.book_no = ANY(%s) GROUP BY a.book_no, a.ord ORDER BY a.book_no, a.ord""",
        (book_nos,),
    ).fetchall()
    keys = [(int(r[0]), int(r[1])) for r in rows]
    corpus = [[lexeme for lexeme, tf in zip(r[2], r[3], strict=False) for _ in range(int(tf or 0))] for r in rows]
    model = LuceneIdfBM25(corpus, k1=K1, b=B)
    scores = model.get_scores(terms)
    order = sorted(range(len(keys)), key=lambda i: (-scores[i], keys[i]))
    return [keys[i] for i in order[:TOP_K] if scores[i] > 0]


def same_ranking(found: list[tuple[Any, ...]], reference: list[tuple[int, int]]) -> bool:
    """The same atoms in the same order, where scores equal to 1e-9 count as ties (duplicate passages'
    sums can differ in the 15th digit, depending on the order Postgres adds the terms)."""
    ours = [(int(r[0]), int(r[1])) for r in found]
    if ours == reference:
        return True
    if sorted(ours) != sorted(reference):
        return False
    rank = {key: round(float(r[2]), 9) for key, r in zip(ours, found, strict=True)}
    return [rank[key] for key in ours] == [rank[key] for key in reference]


def recall_of(found: list[tuple[Any, ...]], exact: set[tuple[int, int]]) -> float:
    """Share of the exact top 10 found (all keys tied at the 10th similarity count as exact)."""
    return min(TOP_K, sum(1 for r in found[:TOP_K] if (int(r[0]), int(r[1])) in exact)) / TOP_K


def top_rows(matrix: numpy.ndarray, ranges: list[tuple[int, int]], vector: numpy.ndarray) -> numpy.ndarray:
    """Exact top 10 over the books' contiguous row ranges of an in-process matrix."""
    similarities = numpy.concatenate([matrix[start:stop] @ vector for start, stop in ranges])
    return numpy.argpartition(similarities, -TOP_K)[-TOP_K:]


ROUTED = "routed: exact <= 10k atoms, else global HNSW"
VECTOR_VARIANTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("exact halfvec scan", VECTOR_EXACT, ("SET max_parallel_workers_per_gather = 0",)),
    ("exact halfvec scan, 2 parallel workers", VECTOR_EXACT,
     ("SET max_parallel_workers_per_gather = 2", "SET parallel_setup_cost = 100",
      "SET min_parallel_table_scan_size = '1MB'")),
    ("binary quantised + exact re-rank of 200", VECTOR_BINARY, ("SET max_parallel_workers_per_gather = 0",)),
    ("global HNSW, iterative scan, ef 200", VECTOR_HNSW,
     ("SET hnsw.iterative_scan = relaxed_order", f"SET hnsw.ef_search = {EF_SEARCH}",
      "SET max_parallel_workers_per_gather = 0")),
)


def throughput_at_8(
    conninfo: str, stub: Any, metadata: Any, queries: list[str], vectors: Any, terms: list[list[str]],
    scopes: list[list[uuid.UUID]], book_no: dict[uuid.UUID, int], routed: str,
) -> dict[str, Any]:
    """Closed loop at concurrency 8: the one statement (own pool) and the current service over gRPC."""
    from psycopg_pool import ConnectionPool

    def configure(conn: psycopg.Connection[Any]) -> None:
        register_vector(conn)
        conn.execute("SET jit = off")
        conn.execute("SET hnsw.iterative_scan = relaxed_order")
        conn.execute(f"SET hnsw.ef_search = {EF_SEARCH}")
        conn.execute("SET max_parallel_workers_per_gather = 0")

    statement = hybrid_statement(routed)
    with ConnectionPool(conninfo, min_size=8, max_size=8, configure=configure, kwargs={"autocommit": True}) as pool:

        def one_statement(i: int) -> object:
            n = i % len(queries)
            params = {"books": sorted(book_no[b] for b in scopes[n % len(scopes)]), "terms": terms[n],
                      "q": vectors[n], "limit": DEPTH, "top_k": TOP_K, "k1": K1, "b": B, "ef": EF_SEARCH}
            with pool.connection() as conn:
                return conn.execute(statement, params, prepare=True).fetchall()

        def current(i: int) -> object:
            n = i % len(queries)
            request = pb.SearchContentRequest(query=queries[n], book_ids=[str(b) for b in scopes[n % len(scopes)]],
                                              top_k=TOP_K, mode=pb.SEARCH_MODE_HYBRID)
            return stub.SearchContent(request, metadata=metadata, timeout=600)

        return {name: run_load(call, concurrency=8, requests=400, max_seconds=10.0).summary()
                for name, call in (("one_statement_sql", one_statement), ("current_grpc", current))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.prototype_retrieval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--books", type=int, default=100)
    parser.add_argument("--atoms", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--reference-queries", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("/tmp/prototype_retrieval.json"))
    parser.add_argument("--data-dir", type=Path, help="keep the stack's data here (emptied first)")
    parser.add_argument("--build-only", action="store_true", help="load and build, then stop (with --data-dir)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")
    out: dict[str, Any] = {"machine": machine(), "books": args.books, "atoms_per_book": args.atoms}
    with bench_stack(args.data_dir, with_envoy=False) as stack:
        settings = stack.settings
        embedder = embedder_from_settings(settings)
        conninfo = settings.content_conninfo()
        corpus = library.RealisticCorpus.create(library.LIBRARY_PDF)
        watch = Stopwatch()
        books = library.load_realistic_books(conninfo, corpus, embedder, books=args.books, atoms_per_book=args.atoms)
        out["library_load_seconds"] = round(watch.seconds(), 1)
        proto = Prototype(conninfo, books)
        out["build"] = proto.build()
        if args.build_only:
            args.out.write_text(json.dumps(out, indent=2) + "\n")
            return 0
        book_ids = [b.book_id for b in books]
        matrix = numpy.vstack([b.vectors for b in books]).astype(numpy.float32)
        offsets = {proto.book_no[b.book_id]: i * args.atoms for i, b in enumerate(books)}
        queries = corpus.queries(args.queries)
        vectors = embedder.embed(queries)
        terms = [proto.terms(q) for q in queries]
        raw = RawSearch(settings, embedder)
        metadata = auth(stack, "prototype")
        sizes = sorted({1, 5, min(30, args.books), args.books})
        out["scopes"] = []
        with channel(stack.address("content")) as grpc_channel:
            stub = content_service_pb2_grpc.ContentServiceStub(grpc_channel)
            for size in sizes:
                scopes = library.scopes(book_ids, size, len(queries), seed=size)
                entry: dict[str, Any] = {"books": size}
                times: dict[str, list[float]] = {}
                recalls: dict[str, list[float]] = {}
                bm25_same: list[bool] = []
                routed = VECTOR_EXACT if size * args.atoms <= EXACT_MAX_ATOMS else VECTOR_HNSW
                for i, (query, vector) in enumerate(zip(queries, vectors, strict=True)):
                    scope = scopes[i % len(scopes)]
                    nos = sorted(proto.book_no[b] for b in scope)
                    params: dict[str, Any] = {"books": nos, "terms": terms[i], "q": vector, "limit": TOP_K,
                                              "top_k": TOP_K, "k1": K1, "b": B, "oversample": 200, "ef": EF_SEARCH}
                    rows = numpy.concatenate([numpy.arange(offsets[n], offsets[n] + args.atoms) for n in nos])
                    similarities = matrix[rows] @ vector
                    kth = numpy.sort(similarities)[-TOP_K]
                    exact = {(nos[j // args.atoms], j % args.atoms) for j in numpy.flatnonzero(similarities >= kth)}
                    # The current service's statements, same run: per-book HNSW union; BM25 over tsvectors.
                    with raw.pool.connection() as conn:
                        timed(times, "current vector (per-book HNSW union)", retrieval.vector_candidates, conn, scope,
                              384, vector, DEPTH, None)
                    timed(times, "current hybrid SQL path (RawSearch)", raw.search, scope, query)
                    request = pb.SearchContentRequest(query=query, book_ids=[str(b) for b in scope], top_k=TOP_K,
                                                      mode=pb.SEARCH_MODE_HYBRID)
                    timed(times, "current hybrid over gRPC", stub.SearchContent, request, metadata=metadata,
                          timeout=600)
                    # (b) vector candidates
                    for name, statement, setup in VECTOR_VARIANTS:
                        for part in setup:
                            proto.conn.execute(part)
                        found = timed(times, name, proto.run, statement, params)
                        recalls.setdefault(name, []).append(recall_of(found, exact))
                    proto.conn.execute("SET max_parallel_workers_per_gather = 0")
                    found = timed(times, ROUTED, proto.run, routed, params)
                    recalls.setdefault(ROUTED, []).append(recall_of(found, exact))
                    timed(times, "in-process numpy float32 matrix (exact)", top_rows, matrix,
                          [(offsets[n], offsets[n] + args.atoms) for n in nos], vector)
                    # (a) BM25 from postings
                    found = timed(times, "BM25 from postings (top 10)", proto.run, BM25, params)
                    if i < args.reference_queries:
                        bm25_same.append(same_ranking(found, reference_bm25(proto, nos, terms[i])))
                    # (c) the one statement
                    timed(times, "one statement: hybrid + fusion + rows", proto.run, hybrid_statement(routed),
                          {**params, "limit": DEPTH})
                entry["c8"] = throughput_at_8(conninfo, stub, metadata, queries, vectors, terms, scopes, proto.book_no,
                                              routed)
                entry["p50_ms"] = {name: p50(values) for name, values in times.items()}
                entry["recall_at_10"] = {name: round(float(numpy.mean(values)), 3) for name, values in recalls.items()}
                entry["bm25_identical_to_reference"] = f"{sum(bm25_same)}/{len(bm25_same)}"
                nos = sorted(proto.book_no[b] for b in scopes[0])
                params = {"books": nos, "terms": terms[0], "q": vectors[0], "limit": DEPTH, "top_k": TOP_K,
                          "k1": K1, "b": B, "oversample": 200, "ef": EF_SEARCH}
                entry["explain_hybrid"] = proto.explain(hybrid_statement(routed), params)
                out["scopes"].append(entry)
                log.info("scope %d: %s", size, json.dumps(entry["p50_ms"]))
        raw.close()
        out["add_and_delete_a_book_seconds"] = proto.add_and_delete_a_book()
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    for entry in out["scopes"]:
        c8 = entry["c8"]
        print(f"\n== {entry['books']} books: bm25 identical {entry['bm25_identical_to_reference']}; c=8 req/s: one "
              f"statement (SQL) {c8['one_statement_sql']['throughput_rps']}, current gRPC "
              f"{c8['current_grpc']['throughput_rps']}")
        for name, value in entry["p50_ms"].items():
            print(f"  {name:55s} p50 {value:8.3f} ms  recall {entry['recall_at_10'].get(name, '')}")
    print(f"\nadd and delete one book (s): {out['add_and_delete_a_book_seconds']}")
    print(f"\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
