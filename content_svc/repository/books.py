"""Books, their outline (structure nodes) and their atoms, as readers see them."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence

from psycopg.rows import class_row, scalar_row

from content_svc.repository import Conn
from content_svc.rules.types import Atom, Book, Node, Subtree

_BOOK_COLUMNS = """book_id, book_no, title, authors, subject, grade_level, page_count, content_sha256,
    embedding_model, embedding_dimension, node_count, atom_count, create_time, load_id"""


def get_ready_book(conn: Conn, book_id: uuid.UUID) -> Book | None:
    return conn.cursor(row_factory=class_row(Book)).execute(
        f"SELECT {_BOOK_COLUMNS} FROM books WHERE book_id = %s AND status = 'ready'", (book_id,)
    ).fetchone()


def get_ready_books(conn: Conn, book_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Book]:
    books = conn.cursor(row_factory=class_row(Book)).execute(
        f"SELECT {_BOOK_COLUMNS} FROM books WHERE book_id = ANY(%s) AND status = 'ready'", (list(book_ids),)
    ).fetchall()
    return {book.book_id: book for book in books}


def any_ready(conn: Conn, book_ids: Sequence[uuid.UUID]) -> bool:
    found = conn.cursor(row_factory=scalar_row).execute(
        "SELECT EXISTS (SELECT FROM books WHERE book_id = ANY(%s) AND status = 'ready')", (list(book_ids),)
    ).fetchone()
    return bool(found)


def list_ready_books(conn: Conn, limit: int, after: tuple[datetime.datetime, uuid.UUID] | None) -> list[Book]:
    """Newest first, keyset-paginated on (create_time, book_id) descending."""
    keyset = "AND (create_time, book_id) < (%(after_time)s, %(after_id)s)" if after is not None else ""
    after_time, after_id = after or (None, None)
    return conn.cursor(row_factory=class_row(Book)).execute(
        f"""SELECT {_BOOK_COLUMNS} FROM books WHERE status = 'ready' {keyset}
            ORDER BY create_time DESC, book_id DESC LIMIT %(limit)s""",
        {"after_time": after_time, "after_id": after_id, "limit": limit},
    ).fetchall()


NODE_COLUMNS = "node_id, parent_node_id, level, ordinal, title, first_page, last_page, preorder, subtree_end"


def outline(conn: Conn, book_no: int) -> list[Node]:
    return conn.cursor(row_factory=class_row(Node)).execute(
        f"SELECT {NODE_COLUMNS} FROM structure_nodes WHERE book_no = %s ORDER BY preorder", (book_no,)
    ).fetchall()


def get_subtree(conn: Conn, book_nos: Sequence[int], node_id: uuid.UUID) -> Subtree | None:
    """The subtree under `node_id`, looked for in the books `book_nos` only."""
    return conn.cursor(row_factory=class_row(Subtree)).execute(
        """SELECT book_no, preorder AS first, subtree_end AS last FROM structure_nodes
           WHERE book_no = ANY(%s) AND node_id = %s""",
        (list(book_nos), node_id),
    ).fetchone()


# Atoms with their stored node path and their book's id.
ATOM_SELECT = """SELECT a.atom_id, b.book_id, a.node_id, a.text, a.page_number, a.ordinal, a.node_path
    FROM content_atoms a JOIN books b USING (book_no)"""


def get_atom(conn: Conn, book_id: uuid.UUID, atom_id: uuid.UUID) -> Atom | None:
    return conn.cursor(row_factory=class_row(Atom)).execute(
        f"{ATOM_SELECT} WHERE b.book_id = %s AND a.atom_id = %s", (book_id, atom_id)
    ).fetchone()


def atoms_by_keys(conn: Conn, keys: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> dict[tuple[uuid.UUID, uuid.UUID], Atom]:
    """Atoms by (book_id, atom_id)."""
    if not keys:
        return {}
    atoms = conn.cursor(row_factory=class_row(Atom)).execute(
        f"""{ATOM_SELECT}
            WHERE (b.book_id, a.atom_id) IN (SELECT * FROM unnest(%s::uuid[], %s::uuid[]))""",
        ([k[0] for k in keys], [k[1] for k in keys]),
    ).fetchall()
    return {(atom.book_id, atom.atom_id): atom for atom in atoms}
