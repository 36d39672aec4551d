"""The library's writes: a book row, its per-book partitions filled by binary COPY, and deletion.

Structure and atoms live in one LIST partition per book (see migration 0003); partitions are
created, filled and indexed as standalone tables and attached last, so loading a book holds only a
SHARE UPDATE EXCLUSIVE lock on the parent tables and never blocks searches of other books.
Only `content_svc.writer` calls these.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

import numpy
import numpy.typing as npt
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.rows import scalar_row

from content_svc.contract import ParsedBook
from content_svc.repository import Conn
from content_svc.rules.library import AtomRow, NodeRow


def partition_names(book_id: uuid.UUID) -> tuple[str, str]:
    """(structure_nodes partition, content_atoms partition) of a book."""
    return f"structure_nodes_{book_id.hex}", f"content_atoms_{book_id.hex}"


def insert_loading_book(
    conn: Conn, book_id: uuid.UUID, book: ParsedBook, embedding_model: str, embedding_dimension: int
) -> bool:
    """Insert the book row as 'loading'; False when the book_id exists (waits for a concurrent loader).

    A duplicate content_sha256 raises psycopg.errors.UniqueViolation.
    """
    inserted = conn.execute(
        """INSERT INTO books (book_id, title, authors, subject, grade_level, page_count, content_sha256,
                              embedding_model, embedding_dimension, status)
           VALUES (%(book_id)s, %(title)s, %(authors)s, %(subject)s, %(grade_level)s, %(page_count)s,
                   %(content_sha256)s, %(embedding_model)s, %(embedding_dimension)s, 'loading')
           ON CONFLICT (book_id) DO NOTHING
           RETURNING book_id""",
        {
            "book_id": book_id, "title": book.title, "authors": book.authors, "subject": book.subject,
            "grade_level": book.grade_level, "page_count": book.page_count, "content_sha256": book.content_sha256,
            "embedding_model": embedding_model, "embedding_dimension": embedding_dimension,
        },
    ).fetchone()
    return inserted is not None


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


def create_standalone_partitions(conn: Conn, book_id: uuid.UUID) -> None:
    nodes_table, atoms_table = partition_names(book_id)
    for table, parent in ((nodes_table, "structure_nodes"), (atoms_table, "content_atoms")):
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING CONSTRAINTS)"
            ).format(sql.Identifier(table), sql.Identifier(parent))
        )


def copy_nodes(conn: Conn, book_id: uuid.UUID, nodes: Iterable[NodeRow]) -> None:
    nodes_table, _ = partition_names(book_id)
    statement = sql.SQL(
        """COPY {} (book_id, node_id, parent_node_id, preorder, subtree_end, level, ordinal, title,
                    first_page, last_page, path_titles) FROM STDIN WITH (FORMAT BINARY)"""
    ).format(sql.Identifier(nodes_table))
    with conn.cursor().copy(statement) as copy:
        copy.set_types(["uuid", "uuid", "uuid", "int4", "int4", "int4", "int4", "text", "int4", "int4", "text[]"])
        for node in nodes:
            copy.write_row((
                book_id, node.node_id, node.parent_node_id, node.preorder, node.subtree_end, node.level,
                node.ordinal, node.title, node.first_page, node.last_page, node.path_titles,
            ))


def copy_atoms(
    conn: Conn, book_id: uuid.UUID, atoms: Sequence[AtomRow], embeddings: npt.NDArray[numpy.float32]
) -> None:
    """Binary COPY, vectors included (pgvector's binary dumper: no text formatting of floats)."""
    register_vector(conn)
    _, atoms_table = partition_names(book_id)
    statement = sql.SQL(
        """COPY {} (book_id, atom_id, node_id, node_preorder, ordinal, page_number, text, embedding)
           FROM STDIN WITH (FORMAT BINARY)"""
    ).format(sql.Identifier(atoms_table))
    with conn.cursor().copy(statement) as copy:
        copy.set_types(["uuid", "uuid", "uuid", "int4", "int4", "int4", "text", "vector"])
        for atom, vector in zip(atoms, embeddings, strict=True):
            copy.write_row((
                book_id, atom.atom_id, atom.node_id, atom.node_preorder, atom.ordinal, atom.page_number,
                atom.text, vector,
            ))


def index_and_attach_partitions(conn: Conn, book_id: uuid.UUID, dimension: int) -> None:
    """HNSW index on the book's vectors (cast to the book's dimension), then attach both partitions.

    Attaching builds the parent's other indexes (primary keys, GIN, node range) on the new tables.
    """
    nodes_table, atoms_table = partition_names(book_id)
    for table in (nodes_table, atoms_table):
        # Fresh statistics, so the planner knows the book's size right away (not at autovacuum's leisure).
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
    conn.execute(
        sql.SQL("CREATE INDEX {} ON {} USING hnsw ((embedding::vector({})) vector_cosine_ops)").format(
            sql.Identifier(f"{atoms_table}_hnsw"), sql.Identifier(atoms_table), sql.Literal(dimension)
        )
    )
    for table, parent in ((nodes_table, "structure_nodes"), (atoms_table, "content_atoms")):
        conn.execute(
            sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES IN ({})").format(
                sql.Identifier(parent), sql.Identifier(table), sql.Literal(str(book_id))
            )
        )


def mark_book_ready(conn: Conn, book_id: uuid.UUID, node_count: int, atom_count: int) -> None:
    _, atoms_table = partition_names(book_id)
    conn.execute(
        sql.SQL(
            """UPDATE books SET status = 'ready', node_count = %s, atom_count = %s,
                 avg_atom_lexemes = coalesce((SELECT avg(length(tsv)) FROM {}), 0)
               WHERE book_id = %s"""
        ).format(sql.Identifier(atoms_table)),
        (node_count, atom_count, book_id),
    )


def delete_book(conn: Conn, book_id: uuid.UUID) -> bool:
    """Drop the book's partitions and its row; False when there was no such book."""
    deleted = conn.execute("DELETE FROM books WHERE book_id = %s RETURNING book_id", (book_id,)).fetchone()
    if deleted is None:
        return False
    for table in partition_names(book_id):
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
    return True
