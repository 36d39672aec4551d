"""The library's writes: a book row, its nodes, atoms, vectors and posting lists, and deletion.

Content lives in shared tables keyed by the book's compact number `book_no` (migration 0007):
loading a book is a few binary COPYs and one INSERT ... SELECT for its postings, all in the
caller's transaction, so the book appears whole when it commits or not at all.
Only `content_svc.writer` calls these.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

import numpy
import numpy.typing as npt
from pgvector import HalfVector
from pgvector.psycopg import register_vector
from psycopg.rows import scalar_row

from content_svc.contract import ParsedBook
from content_svc.repository import Conn
from content_svc.rules.library import AtomRow, NodeRow

CONTENT_TABLES = ("structure_nodes", "content_atoms", "atom_vectors", "vector_blocks", "postings")


def insert_loading_book(
    conn: Conn, book_id: uuid.UUID, book: ParsedBook, embedding_model: str, embedding_dimension: int
) -> int | None:
    """Insert the book row as 'loading' and return its book_no; None when the book_id exists (waits
    for a concurrent loader).

    A duplicate content_sha256 raises psycopg.errors.UniqueViolation.
    """
    book_no: int | None = conn.cursor(row_factory=scalar_row).execute(
        """INSERT INTO books (book_id, title, authors, subject, grade_level, page_count, content_sha256,
                              embedding_model, embedding_dimension, status)
           VALUES (%(book_id)s, %(title)s, %(authors)s, %(subject)s, %(grade_level)s, %(page_count)s,
                   %(content_sha256)s, %(embedding_model)s, %(embedding_dimension)s, 'loading')
           ON CONFLICT (book_id) DO NOTHING
           RETURNING book_no""",
        {
            "book_id": book_id, "title": book.title, "authors": book.authors, "subject": book.subject,
            "grade_level": book.grade_level, "page_count": book.page_count, "content_sha256": book.content_sha256,
            "embedding_model": embedding_model, "embedding_dimension": embedding_dimension,
        },
    ).fetchone()
    return book_no


def book_status(conn: Conn, book_id: uuid.UUID) -> str | None:
    status: str | None = conn.cursor(row_factory=scalar_row).execute(
        "SELECT status FROM books WHERE book_id = %s", (book_id,)
    ).fetchone()
    return status


def book_id_by_sha256(conn: Conn, content_sha256: str, *, ready_only: bool = False) -> uuid.UUID | None:
    ready = "AND status = 'ready'" if ready_only else ""
    book_id: uuid.UUID | None = conn.cursor(row_factory=scalar_row).execute(
        f"SELECT book_id FROM books WHERE content_sha256 = %s {ready} LIMIT 1", (content_sha256,)
    ).fetchone()
    return book_id


def copy_nodes(conn: Conn, book_no: int, nodes: Iterable[NodeRow]) -> None:
    with conn.cursor().copy(
        """COPY structure_nodes (book_no, preorder, node_id, parent_node_id, subtree_end, level, ordinal, title,
                                 first_page, last_page, path_titles) FROM STDIN WITH (FORMAT BINARY)"""
    ) as copy:
        copy.set_types(["int4", "int4", "uuid", "uuid", "int4", "int4", "int4", "text", "int4", "int4", "text[]"])
        for node in nodes:
            copy.write_row((
                book_no, node.preorder, node.node_id, node.parent_node_id, node.subtree_end, node.level,
                node.ordinal, node.title, node.first_page, node.last_page, node.path_titles,
            ))


def copy_atoms(conn: Conn, book_no: int, atoms: Sequence[AtomRow], nodes: Sequence[NodeRow]) -> None:
    """The atoms, each with its node's path (so results need no join to show where they are)."""
    path_at = [node.path_titles for node in nodes]  # nodes are in pre-order: index = preorder
    with conn.cursor().copy(
        """COPY content_atoms (book_no, ordinal, atom_id, node_id, node_preorder, page_number, text, node_path)
           FROM STDIN WITH (FORMAT BINARY)"""
    ) as copy:
        copy.set_types(["int4", "int4", "uuid", "uuid", "int4", "int4", "text", "text[]"])
        for atom in atoms:
            copy.write_row((
                book_no, atom.ordinal, atom.atom_id, atom.node_id, atom.node_preorder, atom.page_number, atom.text,
                path_at[atom.node_preorder],
            ))


def copy_vectors(
    conn: Conn, book_no: int, atoms: Sequence[AtomRow], embeddings: npt.NDArray[numpy.float32]
) -> None:
    """Binary COPY in half precision; the dimension's HNSW index (if any) is maintained as rows go in."""
    register_vector(conn)
    with conn.cursor().copy(
        "COPY atom_vectors (book_no, ordinal, embedding) FROM STDIN WITH (FORMAT BINARY)"
    ) as copy:
        copy.set_types(["int4", "int4", "halfvec"])
        for atom, vector in zip(atoms, embeddings, strict=True):
            copy.write_row((book_no, atom.ordinal, HalfVector(vector)))


def ensure_vector_index(conn: Conn, dimension: int) -> None:
    """The HNSW index over vectors of this dimension (migration 0007); created with the first such book."""
    conn.execute("SELECT ensure_vector_index(%s)", (dimension,))


def build_vector_block(conn: Conn, book_no: int) -> None:
    """The book's vectors as the one row the service's vector cache reads (migration 0008)."""
    conn.execute("SELECT build_vector_block(%s)", (book_no,))


def build_postings(conn: Conn, book_no: int) -> None:
    """The book's BM25 posting lists and token total, from its atoms (migration 0007: build_postings)."""
    conn.execute("SELECT build_postings(%s)", (book_no,))


def mark_book_ready(conn: Conn, book_no: int, node_count: int, atom_count: int) -> None:
    conn.execute(
        "UPDATE books SET status = 'ready', node_count = %s, atom_count = %s WHERE book_no = %s",
        (node_count, atom_count, book_no),
    )


def delete_book(conn: Conn, book_id: uuid.UUID) -> bool:
    """Delete the book's row and content; False when there was no such book."""
    book_no: int | None = conn.cursor(row_factory=scalar_row).execute(
        "DELETE FROM books WHERE book_id = %s RETURNING book_no", (book_id,)
    ).fetchone()
    if book_no is None:
        return False
    for table in CONTENT_TABLES:
        conn.execute(f"DELETE FROM {table} WHERE book_no = %s", (book_no,))
    return True
