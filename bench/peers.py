"""Peers on the same vectors and texts, in the same run: Chroma for vectors, tantivy for BM25, and
the gRPC floor (a health Check on the same server).

For each scope (1 book, a few books, the whole library) the same queries go, interleaved one query
at a time at concurrency 1, to our SearchContent (VECTOR, TEXT and HYBRID over gRPC), to Chroma
(in-process, its default HNSW settings, a `where` filter on the book) and to tantivy (in-process,
English stemming, a term-set filter on the book). Recall@10 of both vector searches is measured
against one exact reference: a brute-force scan of the very same vectors in numpy.
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy
import psycopg
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.harness import Stopwatch, auth, channel, ratio, run_load
from bench.library import LoadedBook
from content_svc.contract import Embedder
from devstack import Stack
from teaching.content.v1 import content_service_pb2 as pb
from teaching.content.v1 import content_service_pb2_grpc

log = logging.getLogger("bench")
TOP_K = 10
CHROMA_BATCH = 5000
T = TypeVar("T")


@dataclass(frozen=True)
class Library:
    """The loaded books as one matrix: row i is atom `keys[i]` = (book index, ordinal)."""

    book_ids: list[uuid.UUID]
    texts: list[str]
    vectors: numpy.ndarray
    book_of_row: numpy.ndarray
    row_of_atom: dict[uuid.UUID, int]

    @classmethod
    def from_books(cls, conninfo: str, books: Sequence[LoadedBook]) -> Library:
        offsets: dict[uuid.UUID, int] = {}
        texts: list[str] = []
        book_of_row: list[int] = []
        for index, book in enumerate(books):
            offsets[book.book_id] = len(texts)
            texts += book.texts
            book_of_row += [index] * len(book.texts)
        row_of_atom: dict[uuid.UUID, int] = {}
        with psycopg.connect(conninfo) as conn:
            rows = conn.execute("SELECT book_id, ordinal, atom_id FROM content_atoms JOIN books USING (book_no) "
                                "WHERE book_id = ANY(%s)", (list(offsets),)).fetchall()
        for book_id, ordinal, atom_id in rows:
            row_of_atom[atom_id] = offsets[book_id] + ordinal
        vectors = numpy.vstack([book.vectors for book in books]).astype(numpy.float32)
        return cls([b.book_id for b in books], texts, vectors, numpy.asarray(book_of_row), row_of_atom)

    def rows_in(self, books: Sequence[int]) -> numpy.ndarray:
        return numpy.flatnonzero(numpy.isin(self.book_of_row, books))


def recall(found_rows: Sequence[int], similarities: numpy.ndarray, in_scope: numpy.ndarray) -> float:
    """Share of the exact top 10 (within the scope) that was found; ties at the 10th similarity count."""
    scoped = similarities[in_scope]
    k = min(TOP_K, len(scoped))
    kth = numpy.partition(scoped, len(scoped) - k)[len(scoped) - k]
    scope_set = set(in_scope.tolist())
    hits = sum(1 for row in found_rows[:k] if row in scope_set and similarities[row] >= kth - 1e-5)
    return hits / k if k else 1.0


class ChromaPeer:
    def __init__(self, library: Library) -> None:
        import chromadb

        self.folder = tempfile.TemporaryDirectory(prefix="bench-chroma-")
        client = chromadb.PersistentClient(path=self.folder.name)
        self.collection = client.create_collection("atoms", configuration={"hnsw": {"space": "cosine"}})
        watch = Stopwatch()
        for start in range(0, len(library.texts), CHROMA_BATCH):
            stop = min(start + CHROMA_BATCH, len(library.texts))
            self.collection.add(
                ids=[str(i) for i in range(start, stop)],
                embeddings=library.vectors[start:stop],
                metadatas=[{"book": int(library.book_of_row[i])} for i in range(start, stop)],
            )
        self.load_seconds = watch.seconds()

    def search(self, vector: numpy.ndarray, books: Sequence[int], all_books: bool) -> list[int]:
        where: Any = None if all_books else ({"book": books[0]} if len(books) == 1 else {"book": {"$in": list(books)}})
        found = self.collection.query(query_embeddings=[vector], n_results=TOP_K, where=where, include=[])
        return [int(i) for i in found["ids"][0]]

    def close(self) -> None:
        self.folder.cleanup()


class TantivyPeer:
    def __init__(self, library: Library) -> None:
        import tantivy

        builder = tantivy.SchemaBuilder()
        builder.add_text_field("text", tokenizer_name="en_stem")
        builder.add_integer_field("book", indexed=True, fast=True)
        builder.add_integer_field("row", stored=True)
        self.schema = builder.build()
        self.folder = tempfile.TemporaryDirectory(prefix="bench-tantivy-")
        self.index = tantivy.Index(self.schema, path=self.folder.name)
        watch = Stopwatch()
        writer = self.index.writer(heap_size=256 * 1024 * 1024)
        for row, text in enumerate(library.texts):
            writer.add_document(tantivy.Document(text=text, book=int(library.book_of_row[row]), row=row))
        writer.commit()
        writer.wait_merging_threads()
        self.index.reload()
        self.load_seconds = watch.seconds()
        self.searcher = self.index.searcher()
        self.tantivy = tantivy

    def search(self, text: str, books: Sequence[int], all_books: bool) -> list[int]:
        # Words only: quotes, colons and the like are tantivy query syntax.
        query = self.index.parse_query(" ".join(re.findall(r"\w+", text)), ["text"])
        if not all_books:
            t = self.tantivy
            scope = t.Query.term_set_query(self.schema, "book", list(books))
            query = t.Query.boolean_query([(t.Occur.Must, query), (t.Occur.Must, scope)])
        hits = self.searcher.search(query, TOP_K).hits
        return [int(self.searcher.doc(address)["row"][0]) for _, address in hits]

    def close(self) -> None:
        self.folder.cleanup()


def grpc_floor(stack: Stack, *, requests: int, max_seconds: float) -> dict[str, Any]:
    """A health Check on the content server: what any RPC costs on this machine, at c=1 and c=8."""
    request = health_pb2.HealthCheckRequest(service="")
    with channel(stack.address("content")) as grpc_channel:
        stub = health_pb2_grpc.HealthStub(grpc_channel)

        def check(_: int) -> object:
            return stub.Check(request, timeout=10)

        return {f"c{level}": run_load(check, concurrency=level, requests=requests, max_seconds=max_seconds).summary()
                for level in (1, 8)}


def _timed(into: list[float], call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """call(*args, **kwargs), its milliseconds appended to `into`."""
    start = time.perf_counter()
    result = call(*args, **kwargs)
    into.append((time.perf_counter() - start) * 1000)
    return result


def bench_peers(
    stack: Stack, embedder: Embedder, books: Sequence[LoadedBook], queries: Sequence[str],
    scope_sizes: Sequence[int], *, floor_requests: int,
) -> dict[str, Any]:
    library = Library.from_books(stack.settings.content_conninfo(), books)
    log.info("peers: loading %d atoms into Chroma and tantivy", len(library.texts))
    chroma = ChromaPeer(library)
    tantivy = TantivyPeer(library)
    query_vectors = embedder.embed(list(queries))
    rng = numpy.random.default_rng(17)
    metadata = auth(stack, "bench-peers")
    out: dict[str, Any] = {
        "atoms": len(library.texts), "books": len(library.book_ids), "queries": len(queries),
        "load_seconds": {"chroma": round(chroma.load_seconds, 1), "tantivy": round(tantivy.load_seconds, 1)},
        "scopes": [],
    }
    try:
        with channel(stack.address("content")) as grpc_channel:
            stub = content_service_pb2_grpc.ContentServiceStub(grpc_channel)
            for size in scope_sizes:
                all_books = size >= len(library.book_ids)
                times: dict[str, list[float]] = {name: [] for name in
                                                 ("grpc_vector", "grpc_text", "grpc_hybrid", "chroma", "tantivy")}
                recalls: dict[str, list[float]] = {"grpc_vector": [], "chroma": []}
                for query, vector in zip(queries, query_vectors, strict=True):
                    scope = sorted(int(i) for i in rng.choice(len(library.book_ids), min(size, len(library.book_ids)),
                                                              replace=False))
                    book_ids = [str(library.book_ids[i]) for i in scope]
                    requests = {mode: pb.SearchContentRequest(query=query, book_ids=book_ids, top_k=TOP_K,
                                                              mode=pb.SearchMode.ValueType(mode))
                                for mode in (pb.SEARCH_MODE_VECTOR, pb.SEARCH_MODE_TEXT, pb.SEARCH_MODE_HYBRID)}
                    vector_results = _timed(times["grpc_vector"], stub.SearchContent,
                                            requests[pb.SEARCH_MODE_VECTOR], metadata=metadata, timeout=120).results
                    _timed(times["grpc_text"], stub.SearchContent, requests[pb.SEARCH_MODE_TEXT], metadata=metadata,
                           timeout=120)
                    _timed(times["grpc_hybrid"], stub.SearchContent, requests[pb.SEARCH_MODE_HYBRID],
                           metadata=metadata, timeout=120)
                    chroma_rows = _timed(times["chroma"], chroma.search, vector, scope, all_books)
                    _timed(times["tantivy"], tantivy.search, query, scope, all_books)
                    similarities = library.vectors @ vector
                    in_scope = library.rows_in(scope)
                    our_rows = [library.row_of_atom[uuid.UUID(r.atom_id)] for r in vector_results]
                    recalls["grpc_vector"].append(recall(our_rows, similarities, in_scope))
                    recalls["chroma"].append(recall(chroma_rows, similarities, in_scope))
                p50 = {name: round(float(numpy.median(values)), 3) for name, values in times.items()}
                out["scopes"].append({
                    "books": size,
                    "p50_ms": p50,
                    "recall_at_10": {name: round(float(numpy.mean(values)), 3) for name, values in recalls.items()},
                    "ratio_vector_vs_chroma": ratio(p50["grpc_vector"], p50["chroma"]),
                    "ratio_text_vs_tantivy": ratio(p50["grpc_text"], p50["tantivy"]),
                })
                log.info("peers: %d books done", size)
        out["grpc_floor"] = grpc_floor(stack, requests=floor_requests, max_seconds=10.0)
    finally:
        chroma.close()
        tantivy.close()
    return out
