"""TEXT search is Okapi BM25, computed from the posting lists written at load time: its rankings are
those of a reference implementation (rank_bm25) over the very same tokens, for one book and for
several, with N, df and the mean length taken over the books searched."""

from __future__ import annotations

import math
import uuid
from typing import Any

import psycopg
import pytest
from rank_bm25 import BM25Okapi

from bench.library import RealisticCorpus, generate_books
from content_svc.writer import load_book
from teaching.content.v1 import content_service_pb2 as pb
from tests.conftest import CORPUS
from tests.content.support import EMBEDDER

K1, B = 1.2, 0.75


class LuceneIdfBM25(BM25Okapi):  # type: ignore[misc]
    """rank_bm25's Okapi BM25 with Lucene's idf, log(1 + (N - df + 0.5) / (df + 0.5)): always positive.

    rank_bm25's own idf floors negative values at a quarter of the mean idf over the vocabulary of
    the searched books, a statistic of the whole vocabulary that posting lists per query term
    cannot give; the rest of the formula (k1, b, document length) is rank_bm25's.
    """

    def _calc_idf(self, nd: dict[str, int]) -> None:
        for word, freq in nd.items():
            self.idf[word] = math.log(1 + (self.corpus_size - freq + 0.5) / (freq + 0.5))


@pytest.fixture(scope="module")
def library(conninfo: str) -> list[uuid.UUID]:
    corpus = RealisticCorpus.create(CORPUS / "thinkpython2.pdf", seed=5)
    book_ids = []
    with psycopg.connect(conninfo) as conn:
        for book, entry in generate_books(corpus, EMBEDDER, books=3, atoms_per_book=300,
                                          first_index=uuid.uuid4().int % 10**9):
            book_id = uuid.uuid4()
            load_book(conn, book_id, book, entry.vectors, EMBEDDER)
            book_ids.append(book_id)
        conn.commit()
    return book_ids


@pytest.fixture(scope="module")
def queries() -> list[str]:
    return RealisticCorpus.create(CORPUS / "thinkpython2.pdf", seed=9).queries(15)


def reference_ranking(conninfo: str, book_ids: list[uuid.UUID], query: str) -> list[tuple[str, int, float]]:
    """rank_bm25's top 10 over the tokens BM25 indexes (atom_tokens: node path, then text), each
    lexeme repeated as often as it occurs."""
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            """SELECT b.book_id, a.ordinal, coalesce(array_agg(t.lexeme) FILTER (WHERE t.lexeme IS NOT NULL), '{}'),
                      coalesce(array_agg(t.tf) FILTER (WHERE t.lexeme IS NOT NULL), '{}')
               FROM content_atoms a JOIN books b USING (book_no)
               LEFT JOIN LATERAL atom_tokens(a.node_path, a.text) t ON true
               WHERE b.book_id = ANY(%s) GROUP BY b.book_id, a.ordinal ORDER BY b.book_id, a.ordinal""",
            (book_ids,),
        ).fetchall()
        terms: list[str] = conn.execute(
            "SELECT tsvector_to_array(to_tsvector('english', %s))", (query,)
        ).fetchone()[0]  # type: ignore[index]
    keys = [(str(row[0]), int(row[1])) for row in rows]
    documents = [[lexeme for lexeme, tf in zip(row[2], row[3], strict=True) for _ in range(tf)] for row in rows]
    scores = LuceneIdfBM25(documents, k1=K1, b=B).get_scores(terms)
    order = sorted(range(len(keys)), key=lambda i: (-scores[i], keys[i]))
    return [(*keys[i], float(scores[i])) for i in order[:10] if scores[i] > 0]


def same_ranking(ours: list[tuple[str, int, float]], reference: list[tuple[str, int, float]]) -> bool:
    """The same scores rank by rank, each atom with its reference score; atoms whose scores are equal
    (to 1e-9: sums of duplicate passages can differ in the 15th digit with the order of the terms)
    may swap places, and at the 10th score either of the tied atoms may be listed."""
    if len(ours) != len(reference):
        return False
    if not all(math.isclose(a[2], b[2], rel_tol=1e-9) for a, b in zip(ours, reference, strict=True)):
        return False
    expected = {(book, ordinal): score for book, ordinal, score in reference}
    last = reference[-1][2] if reference else 0.0
    return all(
        math.isclose(expected[(book, ordinal)], score, rel_tol=1e-9) if (book, ordinal) in expected
        else math.isclose(score, last, rel_tol=1e-9)
        for book, ordinal, score in ours
    )


@pytest.mark.parametrize("books", [1, 3], ids=["one-book", "three-books"])
def test_text_search_ranks_as_reference_bm25(conninfo: str, content_stub: Any, teacher, library, queries, books):
    scope = library[:books]
    for query in queries:
        results = content_stub.SearchContent(pb.SearchContentRequest(
            query=query, book_ids=[str(b) for b in scope], top_k=10, mode=pb.SEARCH_MODE_TEXT), metadata=teacher,
        ).results
        with psycopg.connect(conninfo) as conn:
            ordinals = dict(conn.execute(
                "SELECT atom_id::text, ordinal FROM content_atoms WHERE atom_id = ANY(%s::uuid[])",
                ([r.atom_id for r in results],),
            ).fetchall())
        ours = [(r.book_id, ordinals[r.atom_id], r.score) for r in results]
        reference = reference_ranking(conninfo, scope, query)
        assert ours, query
        assert same_ranking(ours, reference), (query, ours, reference)
