"""ContentService's published writer: load, find and delete books on the caller's connection.

The ingest worker calls `load_book` inside its own transaction, so loading a book and marking its
ingest job done commit together. The book becomes visible (status 'ready') only when that
transaction commits, and loading is idempotent per book_id, so a retried task never duplicates a
book. Read-cache entries are keyed by the book's `load_id`, which is new on every load, so neither
a new nor a deleted book can be served stale from Redis; every process that serves searches hears of
the change when it commits (a trigger on `books` notifies `books_changed`, content_svc.catalogue).
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import psycopg.errors

from common.errors import AlreadyExists
from content_svc.contract import DuplicateBook, Embedder, ParsedBook
from content_svc.repository import library
from content_svc.rules.library import loadable_book

_SHA256_UNIQUE = "books_content_sha256_key"


def load_book(
    conn: psycopg.Connection[Any],
    book_id: uuid.UUID,
    book: ParsedBook,
    embeddings: Any,
    embedder: Embedder,
) -> None:
    """Write the whole book in one transaction (a savepoint inside the caller's); a no-op when
    book_id is already loaded.

    `embeddings[i]` is the vector of `book.atoms[i]`, produced by `embedder`.
    Raises DuplicateBook when another book has the same content_sha256, InvalidArgument when the
    parsed book is inconsistent.
    """
    loadable = loadable_book(book_id, book, embeddings, embedder)
    try:
        with conn.transaction():
            book_no = library.insert_loading_book(
                conn, book_id, loadable.book, embedder.model_name, embedder.dimension
            )
            if book_no is None:
                if library.book_status(conn, book_id) == "ready":
                    return  # already loaded (a retried task): nothing to do
                raise AlreadyExists(f"book {book_id} exists but is not ready")
            library.copy_nodes(conn, book_no, loadable.nodes)
            library.copy_atoms(conn, book_no, loadable.atoms, loadable.nodes)
            library.ensure_vector_index(conn, embedder.dimension)
            library.copy_vectors(conn, book_no, loadable.atoms, loadable.vectors)
            library.build_vector_block(conn, book_no)
            library.build_postings(conn, book_no)
            library.mark_book_ready(conn, book_no, len(loadable.nodes), len(loadable.atoms))
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name != _SHA256_UNIQUE:
            raise
        with conn.transaction():
            existing = library.book_id_by_sha256(conn, loadable.book.content_sha256)
        raise DuplicateBook(loadable.book.content_sha256, existing) from exc


def find_book_by_hash(conn: psycopg.Connection[Any], content_sha256: str) -> uuid.UUID | None:
    """The id of the ready book made from the file with this SHA-256, if the library has one."""
    return library.book_id_by_sha256(conn, content_sha256, ready_only=True)


def delete_book(conn: psycopg.Connection[Any], book_id: uuid.UUID) -> bool:
    """Remove the book with its nodes and atoms in one transaction; False when it did not exist."""
    with conn.transaction():
        return library.delete_book(conn, book_id)
