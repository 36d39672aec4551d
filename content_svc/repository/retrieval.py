"""Retrieval SQL: one statement per search (candidates from both rankers, their fusion and the
result rows), the catalogue of ready books, and a book's vectors for the in-process cache.

The statement's parts, each a CTE:
- `vec`: the vector ranking. Given as parameters (computed in process from cached vectors), an
  exact scan of the scope's vectors, or the dimension's HNSW index with pgvector's iterative scan;
- `txt`: Okapi BM25 from the posting lists of the query's lexemes in the searched books (migration
  0007), with N and the mean length of the searched books passed in;
- `ranked`: the mode's ranking (for HYBRID, `rules.search.fuse` written in SQL; a test holds the two
  equal), then the rows with their stored node path.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy
import numpy.typing as npt
from psycopg.rows import class_row

from content_svc.repository import Conn
from content_svc.rules.search import Bm25, FusionWeights, VectorRoute
from content_svc.rules.types import Candidate, CatalogueEntry, SearchMode, Subtree, VectorBlock


@dataclass(frozen=True)
class SearchRequest:
    """One search as the statement runs it (decided by the use case from the rules)."""

    mode: SearchMode
    book_nos: list[int]
    # No book filter: the scope is every book the search can read.
    whole_library: bool
    subtree: Subtree | None
    text: str
    depth: int
    top_k: int
    # BM25 statistics of the scope.
    atoms: float
    mean_length: float
    # The vector side: how it is ranked, and the query vector or the ranking computed in process.
    route: VectorRoute | None = None
    dimension: int = 0
    vector: npt.NDArray[numpy.float32] | None = None
    given: Sequence[Candidate] = ()


@dataclass(frozen=True)
class SearchRow:
    book_no: int
    atom_id: uuid.UUID
    node_id: uuid.UUID
    text: str
    page_number: int
    ordinal: int
    node_path: list[str]
    score: float


def _vector_part(request: SearchRequest) -> str:
    if request.route is VectorRoute.IN_PROCESS:
        return """SELECT book_no, ordinal, score, r
                  FROM unnest(%(v_books)s::int[], %(v_ordinals)s::int[], %(v_scores)s::float8[])
                       WITH ORDINALITY AS v(book_no, ordinal, score, r)"""
    if request.route is VectorRoute.INDEX:
        halfvec = f"halfvec({int(request.dimension)})"
        books = "" if request.whole_library else "AND book_no = ANY(%(books)s)"
        # relaxed_order (set per connection) returns neighbours roughly by distance, as many as the
        # LIMIT asks (iterative scan): take ef_search of them, re-sort exactly, keep `depth`.
        return f"""SELECT book_no, ordinal, 1 - d AS score, row_number() OVER (ORDER BY d, book_no, ordinal) AS r
                   FROM (SELECT book_no, ordinal, d FROM (
                             SELECT book_no, ordinal, embedding::{halfvec} <=> %(q)s::{halfvec} AS d
                             FROM atom_vectors WHERE vector_dims(embedding) = {int(request.dimension)} {books}
                             ORDER BY embedding::{halfvec} <=> %(q)s::{halfvec}
                             LIMIT %(ef)s) c
                         ORDER BY d, book_no, ordinal LIMIT %(depth)s) n"""
    # Exact: OFFSET 0 fences the scan, so no index can serve the ORDER BY (a complete top-N sort).
    if request.subtree is not None:
        scan = """SELECT v.book_no, v.ordinal, v.embedding <=> %(q)s::halfvec AS d
                  FROM atom_vectors v JOIN content_atoms a USING (book_no, ordinal)
                  WHERE v.book_no = %(sub_book)s AND a.book_no = %(sub_book)s
                    AND a.node_preorder BETWEEN %(sub_first)s AND %(sub_last)s OFFSET 0"""
    else:
        scan = """SELECT book_no, ordinal, embedding <=> %(q)s::halfvec AS d FROM atom_vectors
                  WHERE book_no = ANY(%(books)s) OFFSET 0"""
    return f"""SELECT book_no, ordinal, 1 - d AS score, row_number() OVER (ORDER BY d, book_no, ordinal) AS r
               FROM (SELECT book_no, ordinal, d FROM ({scan}) s ORDER BY d, book_no, ordinal LIMIT %(depth)s) n"""


def _text_part(request: SearchRequest) -> str:
    books = "" if request.whole_library else "AND p.book_no = ANY(%(books)s)"
    subtree = ""
    if request.subtree is not None:
        books = "AND p.book_no = %(sub_book)s"
        subtree = """JOIN content_atoms a ON a.book_no = l.book_no AND a.ordinal = u.ordinal
                     AND a.node_preorder BETWEEN %(sub_first)s AND %(sub_last)s"""
    return f"""lists AS (
        SELECT p.lexeme, p.book_no, p.ordinals, p.tfs, p.lengths FROM postings p
        WHERE p.lexeme = ANY(tsvector_to_array(to_tsvector('english', %(text)s))) {books}
    ), idf AS (
        SELECT lexeme, ln(1 + (%(n)s - df + 0.5) / (df + 0.5)) AS idf
        FROM (SELECT lexeme, sum(cardinality(ordinals))::float8 AS df FROM lists GROUP BY lexeme) d
    ), txt AS (
        SELECT book_no, ordinal, score, row_number() OVER (ORDER BY score DESC, book_no, ordinal) AS r
        FROM (SELECT l.book_no, u.ordinal,
                     sum(i.idf * u.tf * (%(k1)s + 1) / (u.tf + %(k1)s * (1 - %(b)s + %(b)s * u.length / %(avgdl)s)))
                         AS score
              FROM lists l JOIN idf i USING (lexeme)
              CROSS JOIN LATERAL unnest(l.ordinals, l.tfs, l.lengths) AS u(ordinal, tf, length)
              {subtree}
              GROUP BY l.book_no, u.ordinal
              ORDER BY score DESC, l.book_no, u.ordinal LIMIT %(depth)s) t
    )"""


def search_statement(request: SearchRequest) -> str:
    parts = []
    if request.mode is not SearchMode.TEXT:
        parts.append(f"vec AS ({_vector_part(request)})")
    if request.mode is not SearchMode.VECTOR:
        parts.append(_text_part(request))
    if request.mode is SearchMode.VECTOR:
        ranked = "SELECT book_no, ordinal, score FROM vec ORDER BY r LIMIT %(top_k)s"
    elif request.mode is SearchMode.TEXT:
        ranked = "SELECT book_no, ordinal, score FROM txt ORDER BY r LIMIT %(top_k)s"
    else:
        # rules.search.fuse: weighted reciprocal ranks; text candidates far below the best BM25 score
        # do not vote.
        ranked = """SELECT book_no, ordinal, sum(w / (%(k)s + r)) AS score FROM (
                        SELECT book_no, ordinal, %(w_vector)s::float8 AS w, r FROM vec
                        UNION ALL
                        SELECT book_no, ordinal, %(w_text)s::float8, r FROM txt
                        WHERE score >= %(cutoff)s * (SELECT max(score) FROM txt)) f
                    GROUP BY book_no, ordinal ORDER BY score DESC, book_no, ordinal LIMIT %(top_k)s"""
    parts.append(f"ranked AS ({ranked})")
    # `present` counts the listed books that still exist, so a search never answers from a catalogue
    # that missed a deletion (the caller refreshes it and asks again).
    present = "NULL::bigint" if request.whole_library else "(SELECT count(*) FROM books WHERE book_no = ANY(%(books)s))"
    return f"""WITH {', '.join(parts)}
        SELECT {present} AS present, x.* FROM (SELECT 1) one LEFT JOIN LATERAL (
            SELECT r.book_no, a.atom_id, a.node_id, a.text, a.page_number, a.ordinal, a.node_path, r.score
            FROM ranked r JOIN content_atoms a USING (book_no, ordinal)) x ON true
        ORDER BY x.score DESC, x.book_no, x.ordinal"""


def search(
    conn: Conn, request: SearchRequest, bm25: Bm25, fusion: FusionWeights, ef_search: int
) -> tuple[int | None, list[SearchRow]]:
    """(how many of the listed books still exist, or None for a library-wide search; the rows, best first)."""
    params: dict[str, Any] = {
        "books": request.book_nos, "text": request.text, "depth": request.depth, "top_k": request.top_k,
        "n": request.atoms, "avgdl": request.mean_length, "k1": bm25.k1, "b": bm25.b,
        "k": fusion.k, "w_vector": fusion.vector, "w_text": fusion.text, "cutoff": fusion.text_relative_cutoff,
        "q": request.vector, "ef": max(ef_search, request.depth),
        "v_books": [c.book_no for c in request.given], "v_ordinals": [c.ordinal for c in request.given],
        "v_scores": [c.score for c in request.given],
    }
    if request.subtree is not None:
        params.update(sub_book=request.subtree.book_no, sub_first=request.subtree.first,
                      sub_last=request.subtree.last)
    rows = conn.execute(search_statement(request), params, prepare=True).fetchall()
    present = rows[0][0]
    return present, [SearchRow(*row[1:]) for row in rows if row[1] is not None]


def catalogue(conn: Conn) -> list[CatalogueEntry]:
    """Every ready book, as searches need it."""
    return conn.cursor(row_factory=class_row(CatalogueEntry)).execute(
        """SELECT book_id, book_no, embedding_model, embedding_dimension, atom_count, token_count, load_id
           FROM books WHERE status = 'ready'"""
    ).fetchall()


def vector_block(conn: Conn, book_no: int) -> VectorBlock | None:
    """The book's vectors in one row: halfvec's binary form (2-byte dimension, 2 unused bytes, then
    big-endian float16s) concatenated, decoded with numpy. None when the book has no atoms."""
    row = conn.execute(
        """SELECT array_agg(v.ordinal ORDER BY v.ordinal), array_agg(a.node_preorder ORDER BY v.ordinal),
                  string_agg(halfvec_send(v.embedding), ''::bytea ORDER BY v.ordinal),
                  max(vector_dims(v.embedding))
           FROM atom_vectors v JOIN content_atoms a USING (book_no, ordinal)
           WHERE v.book_no = %(book)s AND a.book_no = %(book)s""",
        {"book": book_no}, prepare=True,
    ).fetchone()
    if row is None or row[0] is None:
        return None
    ordinals, preorders, blob, dimension = row
    rows = numpy.frombuffer(blob, dtype=numpy.uint8).reshape(len(ordinals), 4 + 2 * dimension)
    matrix = rows[:, 4:].copy().view(">f2").astype(numpy.float32)
    norms = numpy.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return VectorBlock(
        numpy.asarray(ordinals, dtype=numpy.int32), numpy.asarray(preorders, dtype=numpy.int32), matrix / norms
    )
