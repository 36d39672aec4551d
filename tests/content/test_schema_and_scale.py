"""The layout keeps content distributable by book_id, and book-filtered vector search complete."""

from __future__ import annotations

import uuid

import numpy
import psycopg
from pgvector.psycopg import register_vector

from content_svc.contract import ParsedAtom, ParsedBook, ParsedNode
from content_svc.repository.library import partition_names
from teaching.content.v1 import content_service_pb2 as pb
from tests.content.support import EMBEDDER, load, unique_sha

CONTENT_TABLES = ("structure_nodes", "content_atoms")


def test_every_key_and_unique_constraint_includes_book_id(conninfo, textbook):
    with psycopg.connect(conninfo) as conn:
        # ContentService's tables with a book_id column: books, the partitioned parents and every
        # book's partitions (ingest_jobs is ingest_svc's bookkeeping, keyed by job).
        tables = [row[0] for row in conn.execute(
            """SELECT c.oid::regclass::text FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
               JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE a.attname = 'book_id' AND NOT a.attisdropped AND c.relkind IN ('r', 'p')
                 AND n.nspname = 'public'
                 AND (c.relname IN ('books', 'structure_nodes', 'content_atoms')
                      OR c.relname LIKE 'structure\\_nodes\\_%%' OR c.relname LIKE 'content\\_atoms\\_%%')"""
        )]
        assert set(CONTENT_TABLES) <= set(tables)
        assert any(t.startswith("content_atoms_") for t in tables), "no per-book partition was found"
        unique_indexes = conn.execute(
            """SELECT i.indrelid::regclass::text, i.indexrelid::regclass::text,
                      array(SELECT a.attname FROM unnest(i.indkey) k JOIN pg_attribute a
                            ON a.attrelid = i.indrelid AND a.attnum = k)
               FROM pg_index i WHERE i.indisunique AND i.indrelid::regclass::text = ANY(%s)""",
            (tables,),
        ).fetchall()
        assert unique_indexes
        offenders = [
            (table, index, columns) for table, index, columns in unique_indexes
            if "book_id" not in columns
            # books is the small catalogue (a Citus reference table, replicated whole), so its
            # de-duplication on the file hash stays enforceable; it is the only exception.
            and (table, index) != ("books", "books_content_sha256_key")
        ]
        assert offenders == []
        # Primary keys of the content tables lead with book_id, and both are partitioned by it.
        for table in CONTENT_TABLES:
            key = conn.execute(
                """SELECT array(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(num, pos)
                                JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num
                                ORDER BY k.pos)
                   FROM pg_constraint con WHERE con.conrelid = %s::regclass AND con.contype = 'p'""",
                (table,),
            ).fetchone()
            assert key is not None and key[0][0] == "book_id"
            partition_key = conn.execute("SELECT pg_get_partkeydef(%s::regclass)", (table,)).fetchone()
            assert partition_key == ("LIST (book_id)",)


def _random_book(rng: numpy.random.Generator, atoms: int, dimension: int) -> tuple[ParsedBook, numpy.ndarray]:
    book = ParsedBook(
        title="Synthetic", authors=[], subject="", grade_level="", page_count=atoms, content_sha256=unique_sha(),
        nodes=[ParsedNode(key=0, parent_key=None, level=1, ordinal=0, title="All", first_page=1, last_page=atoms)],
        atoms=[ParsedAtom(node_key=0, ordinal=i, page_number=i + 1, text=f"synthetic passage {i}")
               for i in range(atoms)],
    )
    vectors = rng.standard_normal((atoms, dimension)).astype(numpy.float32)
    vectors /= numpy.linalg.norm(vectors, axis=1, keepdims=True)
    return book, vectors


def test_search_restricted_to_one_book_among_100_is_complete(conninfo, content_stub, teacher):
    rng = numpy.random.default_rng(7)
    atoms_per_book, dimension = 300, EMBEDDER.dimension
    books: list[tuple[uuid.UUID, numpy.ndarray]] = []
    for _ in range(100):
        parsed, vectors = _random_book(rng, atoms_per_book, dimension)
        books.append((load(conninfo, parsed, embeddings=vectors), vectors))

    # The book-filtered query is served by that book's own HNSW index (not a shared, post-filtered one).
    probe_id, _ = books[0]
    with psycopg.connect(conninfo) as conn:
        register_vector(conn)
        plan = "\n".join(row[0] for row in conn.execute(
            f"""EXPLAIN SELECT atom_id FROM content_atoms WHERE book_id = %s
                ORDER BY embedding::vector({dimension}) <=> %s LIMIT 10""",
            (probe_id, rng.standard_normal(dimension).astype(numpy.float32)),
        ))
    assert f"{partition_names(probe_id)[1]}_hnsw" in plan, plan

    recalls = []
    for book_id, vectors in books[::5]:
        query = rng.standard_normal(dimension).astype(numpy.float32)
        exact = numpy.argsort(-(vectors @ (query / numpy.linalg.norm(query))))[:10]
        expected = {str(uuid.uuid5(book_id, f"atom:{i}")) for i in exact}
        results = content_stub.SearchContent(
            pb.SearchContentRequest(query_vector=query.tolist(), book_ids=[str(book_id)], top_k=10,
                                    mode=pb.SEARCH_MODE_VECTOR),
            metadata=teacher,
        ).results
        assert len(results) == 10
        assert {r.book_id for r in results} == {str(book_id)}
        recalls.append(len(expected & {r.atom_id for r in results}) / 10)
    assert numpy.mean(recalls) >= 0.95, recalls
