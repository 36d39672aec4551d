"""Migration 0007 moves books loaded with the per-book partitions of 0003 into the shared tables:
a book loaded the old way comes out exactly as the same book loaded by today's writer (rows, node
paths, vectors, posting lists, token count) and is found by search alike."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from pgvector.psycopg import register_vector
from psycopg import sql
from yoyo import get_backend, read_migrations

from common.migrations import MIGRATION_DIRS
from content_svc.rules.library import loadable_book
from content_svc.rules.types import SearchMode, SearchQuery
from content_svc.writer import load_book
from devstack import Stack
from tests.content.support import EMBEDDER, textbook_parsed, unique_sha, use_cases

FIRST_NEW = "0007_shared_content_tables"


@pytest.fixture
def scratch_database(stack: Stack) -> Iterator[str]:
    """A database of its own on the stack's server, dropped afterwards."""
    name = f"migration_{uuid.uuid4().hex[:12]}"
    admin = stack.settings.content_conninfo().replace(f"dbname={stack.settings.postgres_content_db}", "dbname=postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def _migrate(stack: Stack, database: str, *, before: str | None) -> None:
    """Apply db_content's migrations (only those before `before`, when given) with yoyo."""
    settings = stack.settings
    backend = get_backend(
        f"postgresql+psycopg://{settings.postgres_content_user}@{settings.postgres_content_host}:"
        f"{settings.postgres_content_port}/{database}"
    )
    migrations = read_migrations(*(str(folder) for folder in MIGRATION_DIRS["content"]))
    if before is not None:
        migrations = migrations.filter(lambda migration: migration.id < before)
    with backend.lock():
        backend.apply_migrations(backend.to_apply(migrations))


def _load_the_old_way(conn: psycopg.Connection[Any], book_id: uuid.UUID) -> None:
    """What content_svc's writer did before 0007: a book row and two LIST partitions of its own."""
    parsed = textbook_parsed("Loaded before 0007")
    loadable = loadable_book(book_id, parsed, EMBEDDER.embed([a.text for a in parsed.atoms]), EMBEDDER)
    register_vector(conn)
    conn.execute(
        """INSERT INTO books (book_id, title, authors, page_count, content_sha256, embedding_model,
                              embedding_dimension, status, node_count, atom_count)
           VALUES (%s, %s, %s, %s, %s, %s, %s, 'ready', %s, %s)""",
        (book_id, loadable.book.title, loadable.book.authors, parsed.page_count, unique_sha(), EMBEDDER.model_name,
         EMBEDDER.dimension, len(loadable.nodes), len(loadable.atoms)),
    )
    nodes, atoms = f"structure_nodes_{book_id.hex}", f"content_atoms_{book_id.hex}"
    for table, parent in ((nodes, "structure_nodes"), (atoms, "content_atoms")):
        conn.execute(sql.SQL(
            "CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING CONSTRAINTS)"
        ).format(sql.Identifier(table), sql.Identifier(parent)))
    for node in loadable.nodes:
        conn.execute(
            sql.SQL("""INSERT INTO {} (book_id, node_id, parent_node_id, preorder, subtree_end, level, ordinal, title,
                                       first_page, last_page, path_titles) VALUES (%s, %s, %s, %s, %s, %s, %s, %s,
                                       %s, %s, %s)""").format(sql.Identifier(nodes)),
            (book_id, node.node_id, node.parent_node_id, node.preorder, node.subtree_end, node.level, node.ordinal,
             node.title, node.first_page, node.last_page, node.path_titles),
        )
    for atom, vector in zip(loadable.atoms, loadable.vectors, strict=True):
        conn.execute(
            sql.SQL("""INSERT INTO {} (book_id, atom_id, node_id, node_preorder, ordinal, page_number, text, embedding)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""").format(sql.Identifier(atoms)),
            (book_id, atom.atom_id, atom.node_id, atom.node_preorder, atom.ordinal, atom.page_number, atom.text,
             vector),
        )
    conn.execute(sql.SQL("CREATE INDEX ON {} USING hnsw ((embedding::vector(384)) vector_cosine_ops)").format(
        sql.Identifier(atoms)))
    for table, parent in ((nodes, "structure_nodes"), (atoms, "content_atoms")):
        conn.execute(sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES IN ({})").format(
            sql.Identifier(parent), sql.Identifier(table), sql.Literal(str(book_id))))
    conn.commit()


def _content(conn: psycopg.Connection[Any], book_id: uuid.UUID) -> dict[str, Any]:
    """The book's stored content, with what depends on its id or number left out."""
    (book_no, tokens), = conn.execute(
        "SELECT book_no, token_count FROM books WHERE book_id = %s", (book_id,)).fetchall()
    return {
        "tokens": tokens,
        "nodes": conn.execute("""SELECT preorder, subtree_end, level, ordinal, title, first_page, last_page,
                                        path_titles FROM structure_nodes WHERE book_no = %s ORDER BY preorder""",
                              (book_no,)).fetchall(),
        "atoms": conn.execute("""SELECT ordinal, node_preorder, page_number, text, node_path FROM content_atoms
                                 WHERE book_no = %s ORDER BY ordinal""", (book_no,)).fetchall(),
        "vectors": conn.execute("SELECT ordinal, embedding::text FROM atom_vectors WHERE book_no = %s ORDER BY ordinal",
                                (book_no,)).fetchall(),
        "postings": conn.execute("SELECT lexeme, df, entries FROM postings WHERE book_no = %s ORDER BY lexeme",
                                 (book_no,)).fetchall(),
        "vector_block": conn.execute("SELECT ordinals, preorders, embeddings FROM vector_blocks WHERE book_no = %s",
                                     (book_no,)).fetchall(),
    }


def test_books_loaded_before_the_shared_tables_are_moved_into_them(stack: Stack, scratch_database: str):
    conninfo = stack.settings.content_conninfo().replace(
        f"dbname={stack.settings.postgres_content_db}", f"dbname={scratch_database}")
    _migrate(stack, scratch_database, before=FIRST_NEW)
    old = uuid.uuid4()
    with psycopg.connect(conninfo) as conn:
        _load_the_old_way(conn, old)

    _migrate(stack, scratch_database, before=None)

    new = uuid.uuid4()
    parsed = textbook_parsed("Loaded after 0007")
    with psycopg.connect(conninfo) as conn:
        load_book(conn, new, parsed, EMBEDDER.embed([a.text for a in parsed.atoms]), EMBEDDER)
        conn.commit()
        moved, loaded = _content(conn, old), _content(conn, new)
        assert moved["postings"] and moved["tokens"] > 0
        assert moved == loaded
        partitions = conn.execute(
            "SELECT count(*) FROM pg_class WHERE relname ~ '^(content_atoms|structure_nodes)_[0-9a-f]{32}'").fetchone()
        assert partitions == (0,)
        index = conn.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'atom_vectors_hnsw_384'").fetchone()
        assert index == (1,)

    with contextlib.ExitStack() as resources:
        service = resources.enter_context(use_cases(stack, postgres_content_db=scratch_database))
        for mode in SearchMode:
            hits = service.search(SearchQuery(book_ids=[], text="mitochondria energy", top_k=20, mode=mode))
            by_book = {book: [h.atom.ordinal for h in hits if h.atom.book_id == book] for book in (old, new)}
            assert by_book[old] and by_book[old] == by_book[new], (mode, by_book)
