"""The layout keeps content distributable by book, and vector search complete: full top_k and
recall against exact search for one book among 100 and for the whole library, on every route
(in process, an exact scan in SQL, the HNSW index)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy
import psycopg
import pytest

from content_svc.contract import ParsedAtom, ParsedBook, ParsedNode
from content_svc.rules.types import SearchMode, SearchQuery
from content_svc.usecases import ContentUseCases
from devstack import Stack
from tests.content.support import FixedEmbedder, load, unique_sha, use_cases

CONTENT_TABLES = ("structure_nodes", "content_atoms", "atom_vectors", "vector_blocks", "postings")


def test_every_key_and_unique_constraint_includes_the_book(conninfo, textbook):
    with psycopg.connect(conninfo) as conn:
        unique_indexes = conn.execute(
            """SELECT i.indrelid::regclass::text, i.indexrelid::regclass::text, i.indisprimary,
                      array(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(num, pos)
                            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.num ORDER BY k.pos)
               FROM pg_index i WHERE i.indisunique AND i.indrelid::regclass::text = ANY(%s)""",
            (["books", *CONTENT_TABLES],),
        ).fetchall()
        tables = {table for table, *_ in unique_indexes}
        assert tables == {"books", *CONTENT_TABLES}
        for table, index, primary, columns in unique_indexes:
            if table == "books":
                # books is the small catalogue (a Citus reference table, replicated whole): keyed by
                # book_id, with its unique book number and its de-duplication on the file hash.
                assert columns in (["book_id"], ["book_no"], ["content_sha256"]), (index, columns)
                continue
            # Citus distributes the content tables by book_no, co-located: every unique key holds it.
            assert "book_no" in columns, (index, columns)
            if primary:
                assert columns[0] == "book_no" or (table, columns[:2]) == ("postings", ["lexeme", "book_no"])
        partitioned = conn.execute(
            "SELECT count(*) FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
            "WHERE c.relname = ANY(%s)", (list(CONTENT_TABLES),)
        ).fetchone()
        assert partitioned == (0,)


DIMENSION = 48  # no other test uses it: a library-wide search with such a raw vector reads only these books
BOOKS, ATOMS = 100, 120
CLUSTERS = 40


@pytest.fixture(scope="module")
def hundred_books(conninfo: str) -> list[tuple[uuid.UUID, numpy.ndarray]]:
    """100 books of clustered random vectors (as real passages are: near-duplicates and topics)."""
    rng = numpy.random.default_rng(7)
    centres = rng.standard_normal((CLUSTERS, DIMENSION)).astype(numpy.float32)
    embedder = FixedEmbedder("clustered-test-vectors", DIMENSION)
    books = []
    for index in range(BOOKS):
        vectors = centres[rng.integers(0, CLUSTERS, ATOMS)] + 0.6 * rng.standard_normal((ATOMS, DIMENSION))
        vectors = (vectors / numpy.linalg.norm(vectors, axis=1, keepdims=True)).astype(numpy.float32)
        parsed = ParsedBook(
            title=f"Clustered {index}", authors=[], subject="", grade_level="", page_count=ATOMS,
            content_sha256=unique_sha(),
            nodes=[ParsedNode(key=0, parent_key=None, level=1, ordinal=0, title="All", first_page=1, last_page=ATOMS)],
            atoms=[ParsedAtom(node_key=0, ordinal=i, page_number=i + 1, text=f"passage {i}") for i in range(ATOMS)],
        )
        books.append((load(conninfo, parsed, embedder=embedder, embeddings=vectors), vectors))
    return books


ROUTES: dict[str, dict[str, int]] = {
    # One book in process, the whole library (12,000 atoms) through the index.
    "in-process-and-index": {"search_exact_max_atoms": 10_000, "vector_cache_mb": 64},
    # The service's defaults: the whole library in process too (its 100 blocks read in one statement).
    "in-process-throughout": {"search_exact_max_atoms": 150_000, "vector_cache_mb": 64},
    "exact-scan-in-sql": {"search_exact_max_atoms": 1_000_000, "vector_cache_mb": 0},
    "index-always": {"search_exact_max_atoms": 0, "vector_cache_mb": 64},
}


@pytest.fixture(scope="module", params=list(ROUTES), ids=list(ROUTES))
def service(request: pytest.FixtureRequest, stack: Stack) -> Iterator[ContentUseCases]:
    with use_cases(stack, **ROUTES[request.param]) as service:
        yield service


def _recall(found: list[tuple[uuid.UUID, int]], exact: set[tuple[uuid.UUID, int]]) -> float:
    return len(set(found) & exact) / len(exact)


def _exact(books: list[tuple[uuid.UUID, numpy.ndarray]], query: numpy.ndarray) -> set[tuple[uuid.UUID, int]]:
    similarities = [(float(s), book_id, i) for book_id, vectors in books for i, s in enumerate(vectors @ query)]
    similarities.sort(key=lambda item: -item[0])
    kth = similarities[9][0]
    return {(book_id, i) for s, book_id, i in similarities if s >= kth - 1e-3}  # halfvec ties count as found


def test_one_book_among_100_gets_its_full_top_k(service: ContentUseCases, hundred_books):
    rng = numpy.random.default_rng(11)
    recalls = []
    for book_id, vectors in hundred_books[::10]:
        query = vectors[int(rng.integers(0, ATOMS))] + 0.3 * rng.standard_normal(DIMENSION).astype(numpy.float32)
        query /= numpy.linalg.norm(query)
        hits = service.search(SearchQuery(book_ids=[book_id], vector=query.tolist(), top_k=10, mode=SearchMode.VECTOR))
        assert len(hits) == 10
        assert {hit.atom.book_id for hit in hits} == {book_id}
        recalls.append(_recall([(h.atom.book_id, h.atom.ordinal) for h in hits], _exact([(book_id, vectors)], query)))
    assert numpy.mean(recalls) >= 0.95, recalls


def test_the_whole_library_gets_its_full_top_k(service: ContentUseCases, hundred_books):
    rng = numpy.random.default_rng(12)
    recalls = []
    for _ in range(10):
        _, vectors = hundred_books[int(rng.integers(0, BOOKS))]
        query = vectors[int(rng.integers(0, ATOMS))] + 0.3 * rng.standard_normal(DIMENSION).astype(numpy.float32)
        query /= numpy.linalg.norm(query)
        hits = service.search(SearchQuery(book_ids=[], vector=query.tolist(), top_k=10, mode=SearchMode.VECTOR))
        assert len(hits) == 10
        recalls.append(_recall([(h.atom.book_id, h.atom.ordinal) for h in hits], _exact(hundred_books, query)))
    assert numpy.mean(recalls) >= 0.95, recalls
