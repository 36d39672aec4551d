"""Reading a book: atoms in reading order (a node's subtree page by page, the window around an
atom) and single nodes with their lineage and children. Every query is within one book (book_no).

Reading order is (page_number, ordinal), served by content_atoms_reading_order_idx.
"""

from __future__ import annotations

import uuid

from psycopg.rows import class_row

from content_svc.repository import Conn
from content_svc.repository.books import ATOM_SELECT, NODE_COLUMNS
from content_svc.rules.reading import ReadingPosition
from content_svc.rules.types import Atom, Node, Subtree


def atoms_in_reading_order(
    conn: Conn, book_no: int, subtree: Subtree | None, limit: int, after: ReadingPosition | None
) -> list[Atom]:
    """Up to `limit` atoms of the book (or of `subtree`) following `after`, in reading order."""
    within = "AND a.node_preorder BETWEEN %(first)s AND %(last)s" if subtree is not None else ""
    keyset = "AND (a.page_number, a.ordinal) > (%(page)s, %(ordinal)s)" if after is not None else ""
    page, ordinal = after or (None, None)
    return conn.cursor(row_factory=class_row(Atom)).execute(
        f"""{ATOM_SELECT}
            WHERE a.book_no = %(book_no)s {within} {keyset}
            ORDER BY a.page_number, a.ordinal LIMIT %(limit)s""",
        {
            "book_no": book_no, "first": subtree.first if subtree else None, "last": subtree.last if subtree else None,
            "page": page, "ordinal": ordinal, "limit": limit,
        },
    ).fetchall()


def atoms_before(conn: Conn, book_no: int, position: ReadingPosition, limit: int) -> list[Atom]:
    """Up to `limit` atoms just before `position`, in reading order."""
    nearest_first = conn.cursor(row_factory=class_row(Atom)).execute(
        f"""{ATOM_SELECT}
            WHERE a.book_no = %(book_no)s AND (a.page_number, a.ordinal) < (%(page)s, %(ordinal)s)
            ORDER BY a.page_number DESC, a.ordinal DESC LIMIT %(limit)s""",
        {"book_no": book_no, "page": position[0], "ordinal": position[1], "limit": limit},
    ).fetchall()
    return nearest_first[::-1]


def lineage(conn: Conn, book_no: int, node_id: uuid.UUID) -> list[Node]:
    """The nodes from the top-level one down to `node_id` (empty when the book has no such node).

    A node's ancestors are the nodes whose pre-order subtree range holds its position.
    """
    return conn.cursor(row_factory=class_row(Node)).execute(
        f"""WITH target AS (
                SELECT preorder AS position FROM structure_nodes WHERE book_no = %(book_no)s AND node_id = %(node_id)s
            )
            SELECT {NODE_COLUMNS} FROM structure_nodes, target
            WHERE book_no = %(book_no)s AND preorder <= position AND subtree_end >= position
            ORDER BY preorder""",
        {"book_no": book_no, "node_id": node_id},
    ).fetchall()


def children(conn: Conn, book_no: int, node: Node) -> list[Node]:
    """The node's direct children in order: the next level down within its subtree's range."""
    return conn.cursor(row_factory=class_row(Node)).execute(
        f"""SELECT {NODE_COLUMNS} FROM structure_nodes
            WHERE book_no = %s AND preorder > %s AND preorder <= %s AND level = %s
            ORDER BY preorder""",
        (book_no, node.preorder, node.subtree_end, node.level + 1),
    ).fetchall()
