"""Retrieval SQL: what a search reads (posting lists, vector candidates, result rows), the catalogue
of ready books, and a book's vectors for the in-process cache.

A search costs two round trips: the first fetches, pipelined, the posting lists of the query's
lexemes and (when vectors are not ranked in process) the vector candidates; the use case scores,
fuses and picks the top k; the second reads those atoms' rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy
import numpy.typing as npt
from psycopg.rows import class_row

from content_svc.repository import Conn
from content_svc.rules.search import VectorRoute
from content_svc.rules.types import Candidate, CatalogueEntry, Subtree, TermPostings, VectorBlock

T = TypeVar("T")

# A posting list entry (migration 0007): ordinal int4, tf int2, length int2, big-endian.
_ENTRY = numpy.dtype([("ordinal", ">i4"), ("tf", ">i2"), ("length", ">i2")])


@dataclass(frozen=True)
class VectorQuery:
    """A vector ranking for Postgres to compute: an exact scan, or the dimension's HNSW index."""

    route: VectorRoute
    vector: npt.NDArray[numpy.float32]
    dimension: int
    depth: int
    ef_search: int


@dataclass(frozen=True)
class Reads:
    """What the first round trip of a search returns."""

    terms: list[TermPostings]
    # How many distinct lexemes the query text has (held by the searched books or not).
    query_lexemes: int
    vector_ranking: list[Candidate]
    # The ordinals of the subtree's atoms, when the search is within one.
    subtree_ordinals: npt.NDArray[numpy.int64] | None


def _books_condition(book_nos: Sequence[int] | None) -> str:
    return "" if book_nos is None else "AND book_no = ANY(%(books)s)"


def _postings_statement(book_nos: Sequence[int] | None) -> str:
    """A row per query lexeme (by Postgres' english configuration, as at load time): its lists in the
    books, concatenated (NULLs when no searched book holds it)."""
    books = "" if book_nos is None else "AND p.book_no = ANY(%(books)s)"
    return f"""SELECT q.lexeme, array_agg(p.book_no ORDER BY p.book_no) FILTER (WHERE p.book_no IS NOT NULL),
                      array_agg(p.df ORDER BY p.book_no) FILTER (WHERE p.book_no IS NOT NULL),
                      string_agg(p.entries, ''::bytea ORDER BY p.book_no)
               FROM unnest(tsvector_to_array(to_tsvector('english', %(text)s))) q(lexeme)
               LEFT JOIN postings p ON p.lexeme = q.lexeme {books}
               GROUP BY q.lexeme"""


def _vector_statement(query: VectorQuery, book_nos: Sequence[int] | None, subtree: Subtree | None) -> str:
    if query.route is VectorRoute.INDEX:
        halfvec = f"halfvec({int(query.dimension)})"
        # relaxed_order (set per connection) returns neighbours roughly by distance, as many as the
        # LIMIT asks (an iterative scan keeps a book filter complete): take ef_search of them, re-sort.
        return f"""SELECT book_no, ordinal, 1 - d FROM (
                       SELECT book_no, ordinal, embedding::{halfvec} <=> %(q)s::{halfvec} AS d
                       FROM atom_vectors WHERE vector_dims(embedding) = {int(query.dimension)}
                            {_books_condition(book_nos)}
                       ORDER BY embedding::{halfvec} <=> %(q)s::{halfvec} LIMIT %(ef)s) c
                   ORDER BY d, book_no, ordinal LIMIT %(depth)s"""
    # Exact: OFFSET 0 fences the scan, so no index can serve the ORDER BY (a complete top-N sort).
    if subtree is not None:
        scan = """SELECT v.book_no, v.ordinal, v.embedding <=> %(q)s::halfvec AS d
                  FROM atom_vectors v JOIN content_atoms a USING (book_no, ordinal)
                  WHERE v.book_no = %(sub_book)s AND a.book_no = %(sub_book)s
                    AND a.node_preorder BETWEEN %(sub_first)s AND %(sub_last)s OFFSET 0"""
    else:
        scan = f"""SELECT book_no, ordinal, embedding <=> %(q)s::halfvec AS d FROM atom_vectors
                   WHERE true {_books_condition(book_nos)} OFFSET 0"""
    return f"SELECT book_no, ordinal, 1 - d FROM ({scan}) s ORDER BY d, book_no, ordinal LIMIT %(depth)s"


_SUBTREE_ORDINALS = """SELECT coalesce(array_agg(ordinal), '{}') FROM content_atoms
                       WHERE book_no = %(sub_book)s AND node_preorder BETWEEN %(sub_first)s AND %(sub_last)s"""


def read_candidates(
    conn: Conn, text: str, book_nos: Sequence[int] | None, vector: VectorQuery | None, subtree: Subtree | None,
    meanwhile: Callable[[], T],
) -> tuple[Reads, T]:
    """One round trip (psycopg's pipeline mode): the posting lists of `text`'s lexemes in the books
    `book_nos` (None: every book), the vector ranking when `vector` is given, the subtree's ordinals;
    `meanwhile()` runs while the server works on them (it must not use `conn`)."""
    params: dict[str, Any] = {"text": text, "books": list(book_nos) if book_nos is not None else None}
    if vector is not None:
        params.update(q=vector.vector, depth=vector.depth, ef=max(vector.ef_search, vector.depth))
    if subtree is not None:
        params.update(sub_book=subtree.book_no, sub_first=subtree.first, sub_last=subtree.last)
    postings, vectors, ordinals = conn.cursor(binary=True), conn.cursor(), conn.cursor()
    with conn.pipeline():  # each statement is sent as it is queued; the results come at the block's end
        if text:
            postings.execute(_postings_statement(book_nos), params, prepare=True)
        if vector is not None:
            vectors.execute(_vector_statement(vector, book_nos, subtree), params, prepare=True)
        if subtree is not None:
            ordinals.execute(_SUBTREE_ORDINALS, params, prepare=True)
        computed = meanwhile()
    lists = postings.fetchall() if text else []
    terms = [_term(*row) for row in lists if row[1] is not None]
    ranking = [Candidate(*row) for row in vectors.fetchall()] if vector is not None else []
    within = numpy.asarray(ordinals.fetchone()[0], dtype=numpy.int64) if subtree is not None else None  # type: ignore[index]
    return Reads(terms, len(lists), ranking, within), computed


def _term(lexeme: str, books: list[int], counts: list[int], entries: bytes) -> TermPostings:
    parsed = numpy.frombuffer(entries, dtype=_ENTRY)
    return TermPostings(
        lexeme, numpy.asarray(books, dtype=numpy.int64), numpy.asarray(counts, dtype=numpy.int64),
        parsed["ordinal"].astype(numpy.int64), parsed["tf"].astype(numpy.float64),
        parsed["length"].astype(numpy.float64),
    )


@dataclass(frozen=True)
class AtomRow:
    book_no: int
    ordinal: int
    atom_id: uuid.UUID
    node_id: uuid.UUID
    text: str
    page_number: int
    node_path: list[str]


def atoms_at(
    conn: Conn, keys: Sequence[tuple[int, int]], listed: Sequence[int] | None
) -> tuple[int | None, dict[tuple[int, int], AtomRow]]:
    """The atoms at (book_no, ordinal) `keys`, and how many of the `listed` books still exist (None
    when no books were listed), so a search never answers from a catalogue that missed a deletion."""
    present = "NULL::bigint" if listed is None else "(SELECT count(*) FROM books WHERE book_no = ANY(%(listed)s))"
    rows = conn.execute(
        f"""SELECT {present}, a.book_no, a.ordinal, a.atom_id, a.node_id, a.text, a.page_number, a.node_path
            FROM (SELECT 1) one LEFT JOIN LATERAL (
                SELECT a.* FROM unnest(%(books)s::int[], %(ordinals)s::int[]) k(book_no, ordinal)
                JOIN content_atoms a USING (book_no, ordinal)) a ON true""",
        {"listed": list(listed or []), "books": [k[0] for k in keys], "ordinals": [k[1] for k in keys]},
        prepare=True,
    ).fetchall()
    atoms = {(row[1], row[2]): AtomRow(*row[1:]) for row in rows if row[1] is not None}
    return rows[0][0], atoms


def catalogue(conn: Conn) -> list[CatalogueEntry]:
    """Every ready book, as searches need it."""
    return conn.cursor(row_factory=class_row(CatalogueEntry)).execute(
        """SELECT book_id, book_no, embedding_model, embedding_dimension, atom_count, token_count, load_id
           FROM books WHERE status = 'ready'"""
    ).fetchall()


def vector_blocks(conn: Conn, book_nos: list[int]) -> dict[int, VectorBlock]:
    """The books' vectors from their stored blocks (migration 0008), decoded with numpy; books
    without atoms have none."""
    rows = conn.cursor(binary=True).execute(
        "SELECT book_no, ordinals, preorders, embeddings FROM vector_blocks WHERE book_no = ANY(%s)",
        (book_nos,), prepare=True,
    ).fetchall()
    blocks = {}
    for book_no, *columns in rows:
        ordinals, preorders, embeddings = (numpy.frombuffer(value, dtype=numpy.uint8) for value in columns)
        ordinal = ordinals.view(">i4").astype(numpy.int32)
        blocks[book_no] = VectorBlock.from_rows(
            ordinal, preorders.view(">i4").astype(numpy.int32), embeddings.view(">f2").reshape(ordinal.shape[0], -1)
        )
    return blocks
