"""Retrieval SQL: nearest atoms by vector (per-book HNSW indexes) and Okapi BM25 over the atoms'
tsvectors. Each returns one ranking of Candidates; fusing them is a rule (rules/search.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import numpy
import numpy.typing as npt
from psycopg import sql
from psycopg.rows import class_row, scalar_row

from content_svc.repository import Conn
from content_svc.rules.types import Candidate, Subtree

HNSW_EF_SEARCH_MIN = 128


def vector_candidates(
    conn: Conn,
    book_ids: Sequence[uuid.UUID],
    dimension: int,
    vector: npt.NDArray[numpy.float32],
    limit: int,
    subtree: Subtree | None,
) -> list[Candidate]:
    """Nearest atoms by cosine distance; score = cosine similarity."""
    candidates = conn.cursor(row_factory=class_row(Candidate))
    if subtree is not None:
        # Exact scan of one subtree: `embedding <=> q` (no cast) deliberately does not match the HNSW
        # expression index, so the planner reads the subtree's atoms (a node range index scan) and
        # sorts them, which is complete however small the subtree is.
        return candidates.execute(
            """SELECT book_id, atom_id, 1 - (embedding <=> %s) AS score FROM content_atoms
               WHERE book_id = %s AND node_preorder BETWEEN %s AND %s
               ORDER BY embedding <=> %s, atom_id LIMIT %s""",
            (vector, subtree.book_id, subtree.first, subtree.last, vector, limit),
        ).fetchall()
    # ef_search bounds how many neighbours an HNSW scan can return; keep it above the limit. Its floor
    # sets recall: on 1,000-atom partitions of hashing vectors, recall@10 against exact search was
    # 0.90-0.92 at 64, 0.96 at 100 and 0.997 at 200 (`make bench`, docs/benchmarks.md); 128 keeps it
    # above 0.95 for about 1 ms more per 10 books searched.
    conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(max(HNSW_EF_SEARCH_MIN, 2 * limit)),))
    # One branch per book, each pruned at plan time to that book's partition and its HNSW index.
    branch = sql.SQL(
        """(SELECT book_id, atom_id, embedding::vector({dim}) <=> %s AS distance FROM content_atoms
            WHERE book_id = %s ORDER BY embedding::vector({dim}) <=> %s LIMIT %s)"""
    ).format(dim=sql.Literal(dimension))
    statement = sql.SQL(
        "SELECT book_id, atom_id, 1 - distance AS score FROM ({}) AS hits ORDER BY distance, atom_id LIMIT %s"
    ).format(sql.SQL(" UNION ALL ").join([branch] * len(book_ids)))
    params: list[Any] = []
    for book_id in book_ids:
        params += [vector, book_id, vector, limit]
    params.append(limit)
    return candidates.execute(statement, params).fetchall()


def query_lexemes(conn: Conn, text: str) -> list[str]:
    lexemes = conn.cursor(row_factory=scalar_row).execute(
        "SELECT tsvector_to_array(to_tsvector('english', %s))", (text,)
    ).fetchone()
    return list(lexemes or [])


def _tsquery_literal(lexemes: Sequence[str]) -> str:
    """OR of already-normalised lexemes, quoted for tsquery input (no re-normalisation)."""
    quoted = ("'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'" for lexeme in lexemes)
    return " | ".join(quoted)


def bm25_candidates(
    conn: Conn,
    book_ids: Sequence[uuid.UUID],
    lexemes: Sequence[str],
    limit: int,
    subtree: Subtree | None,
    *,
    k1: float = 1.2,
    b: float = 0.75,
) -> list[Candidate]:
    """Okapi BM25 over the searched books, computed in SQL from the atoms' tsvectors.

    Candidates are the atoms matching any query lexeme (GIN index); their tsvectors give term
    frequencies, and the candidate set itself gives each term's document frequency. Document length
    is the number of distinct lexemes (what a tsvector knows cheaply), normalised by the book's mean.
    """
    if not lexemes:
        return []
    subtree_filter = sql.SQL("")
    params: dict[str, Any] = {
        "books": list(book_ids), "tsquery": _tsquery_literal(lexemes), "lexemes": list(lexemes),
        "k1": k1, "b": b, "limit": limit,
    }
    if subtree is not None:
        subtree_filter = sql.SQL(
            "WHERE p.book_id = %(sub_book)s AND p.node_preorder BETWEEN %(sub_first)s AND %(sub_last)s"
        )
        params.update(sub_book=subtree.book_id, sub_first=subtree.first, sub_last=subtree.last)
    statement = sql.SQL(
        """WITH corpus AS (
               SELECT sum(atom_count)::float8 AS n,
                      coalesce(sum(avg_atom_lexemes * atom_count) / nullif(sum(atom_count), 0), 1) AS avgdl
               FROM books WHERE book_id = ANY(%(books)s)
           ), postings AS (
               SELECT a.book_id, a.atom_id, a.node_preorder, length(a.tsv)::float8 AS dl, u.lexeme,
                      coalesce(array_length(u.positions, 1), 1)::float8 AS tf
               FROM content_atoms a CROSS JOIN LATERAL unnest(a.tsv) AS u(lexeme, positions, weights)
               WHERE a.book_id = ANY(%(books)s) AND a.tsv @@ %(tsquery)s::tsquery
                 AND u.lexeme = ANY(%(lexemes)s)
           ), document_frequency AS (
               SELECT lexeme, count(*)::float8 AS df FROM postings GROUP BY lexeme
           )
           SELECT p.book_id, p.atom_id,
                  sum(ln(1 + (c.n - d.df + 0.5) / (d.df + 0.5))
                      * p.tf * (%(k1)s + 1) / (p.tf + %(k1)s * (1 - %(b)s + %(b)s * p.dl / c.avgdl))) AS score
           FROM postings p JOIN document_frequency d USING (lexeme) CROSS JOIN corpus c
           {subtree_filter}
           GROUP BY p.book_id, p.atom_id
           ORDER BY score DESC, p.atom_id
           LIMIT %(limit)s"""
    ).format(subtree_filter=subtree_filter)
    return conn.cursor(row_factory=class_row(Candidate)).execute(statement, params).fetchall()
