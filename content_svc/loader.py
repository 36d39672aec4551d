"""Writes a parsed book (structure nodes + atoms + their vectors) into db_content in one transaction.

The ingest worker calls `load_book`; tests call it directly. The book row becomes visible (status
'ready') only when the transaction commits, and loading is idempotent per book_id, so a retried
task never duplicates a book. Read-cache entries are keyed by the book's `load_id`, which is new on
every load, so neither a new nor a deleted book can be served stale from Redis.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import numpy
import psycopg
import psycopg.errors

from common.errors import AlreadyExists, InvalidArgument
from content_svc import store
from content_svc.embedding import Embedder

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ParsedNode:
    key: int
    parent_key: int | None
    level: int
    ordinal: int
    title: str
    first_page: int
    last_page: int


@dataclass(frozen=True)
class ParsedAtom:
    node_key: int
    # Position in the book's reading order, from 0 (unique within the book).
    ordinal: int
    page_number: int
    text: str


@dataclass(frozen=True)
class ParsedBook:
    title: str
    authors: list[str]
    subject: str
    grade_level: str
    page_count: int
    content_sha256: str
    # In reading pre-order: a node comes before its children, siblings in order.
    nodes: list[ParsedNode]
    atoms: list[ParsedAtom]


class DuplicateBook(AlreadyExists):
    """Another book with the same source file (content_sha256) is already in the library."""

    def __init__(self, content_sha256: str, existing_book_id: uuid.UUID | None) -> None:
        self.content_sha256 = content_sha256
        self.existing_book_id = existing_book_id
        super().__init__(
            f"a book with content_sha256 {content_sha256} already exists (book_id {existing_book_id})"
        )


def node_uuid(book_id: uuid.UUID, key: int) -> uuid.UUID:
    """Deterministic node id, so a retried load of the same book produces the same ids."""
    return uuid.uuid5(book_id, f"node:{key}")


def atom_uuid(book_id: uuid.UUID, ordinal: int) -> uuid.UUID:
    return uuid.uuid5(book_id, f"atom:{ordinal}")


def _node_rows(book_id: uuid.UUID, book: ParsedBook) -> tuple[list[store.NodeRow], dict[int, int]]:
    """Rows with pre-order positions, subtree ends and breadcrumbs; plus key -> pre-order."""
    position: dict[int, int] = {}
    paths: dict[int, list[str]] = {}
    subtree_end: list[int] = []
    violations: dict[str, str] = {}
    for index, node in enumerate(book.nodes):
        if node.key in position:
            violations[f"nodes[{index}].key"] = f"duplicate node key {node.key}"
            break
        if node.parent_key is None:
            paths[node.key] = [node.title]
            if node.level != 1:
                violations[f"nodes[{index}].level"] = "top-level nodes have level 1"
        else:
            if node.parent_key not in position:
                violations[f"nodes[{index}].parent_key"] = "parent must exist and come before its children"
                break
            parent = book.nodes[position[node.parent_key]]
            if node.level != parent.level + 1:
                violations[f"nodes[{index}].level"] = "a child's level is its parent's level + 1"
            paths[node.key] = [*paths[node.parent_key], node.title]
        if node.first_page < 1 or node.last_page < node.first_page:
            violations[f"nodes[{index}].pages"] = "need 1 <= first_page <= last_page"
        position[node.key] = index
        subtree_end.append(index)
    if violations:
        raise InvalidArgument(violations, "parsed book has an invalid structure: " + "; ".join(
            f"{k}: {v}" for k, v in violations.items()))
    # Pre-order: a node's subtree ends where its last descendant is; walk up from each node.
    for index, node in enumerate(book.nodes):
        parent_key = node.parent_key
        while parent_key is not None:
            parent_index = position[parent_key]
            subtree_end[parent_index] = max(subtree_end[parent_index], index)
            parent_key = book.nodes[parent_index].parent_key
    rows = [
        store.NodeRow(
            node_id=node_uuid(book_id, node.key),
            parent_node_id=None if node.parent_key is None else node_uuid(book_id, node.parent_key),
            preorder=index, subtree_end=subtree_end[index], level=node.level, ordinal=node.ordinal,
            title=node.title, first_page=node.first_page, last_page=node.last_page, path_titles=paths[node.key],
        )
        for index, node in enumerate(book.nodes)
    ]
    return rows, position


def _atom_rows(book_id: uuid.UUID, book: ParsedBook, position: dict[int, int]) -> list[store.AtomRow]:
    rows: list[store.AtomRow] = []
    seen: set[int] = set()
    for index, atom in enumerate(book.atoms):
        if atom.node_key not in position:
            raise InvalidArgument({f"atoms[{index}].node_key": f"no node with key {atom.node_key}"})
        if atom.ordinal in seen or atom.ordinal < 0:
            raise InvalidArgument({f"atoms[{index}].ordinal": "ordinals must be unique and >= 0"})
        seen.add(atom.ordinal)
        rows.append(store.AtomRow(
            atom_id=atom_uuid(book_id, atom.ordinal), node_id=node_uuid(book_id, atom.node_key),
            node_preorder=position[atom.node_key], ordinal=atom.ordinal, page_number=atom.page_number,
            text=atom.text.replace("\x00", ""),  # Postgres text cannot hold NUL
        ))
    return rows


def load_book(
    conn: psycopg.Connection[Any],
    book_id: uuid.UUID,
    book: ParsedBook,
    embeddings: numpy.ndarray[Any, Any],
    embedder: Embedder,
) -> None:
    """Write the whole book in one transaction (COPY); a no-op when book_id is already loaded.

    `embeddings[i]` is the vector of `book.atoms[i]`, produced by `embedder`.
    Raises DuplicateBook when another book has the same content_sha256, InvalidArgument when the
    parsed book is inconsistent.
    """
    sha256 = book.content_sha256.strip().lower()
    if not _SHA256.match(sha256):
        raise InvalidArgument({"content_sha256": "must be 64 hex digits"})
    if not book.title.strip():
        raise InvalidArgument({"title": "must not be empty"})
    vectors = numpy.asarray(embeddings, dtype=numpy.float32)
    if vectors.shape != (len(book.atoms), embedder.dimension):
        raise InvalidArgument({
            "embeddings": f"expected shape {(len(book.atoms), embedder.dimension)}, got {vectors.shape}"
        })
    if not numpy.isfinite(vectors).all():
        raise InvalidArgument({"embeddings": "contains NaN or infinite values"})
    node_rows, position = _node_rows(book_id, book)
    atom_rows = _atom_rows(book_id, book, position)
    new_book = store.NewBook(
        book_id=book_id, title=book.title.strip(), authors=[a.strip() for a in book.authors if a.strip()],
        subject=book.subject, grade_level=book.grade_level, page_count=book.page_count,
        content_sha256=sha256, embedding_model=embedder.model_name, embedding_dimension=embedder.dimension,
    )
    try:
        with conn.transaction():
            if not store.insert_loading_book(conn, new_book):
                if store.book_status(conn, book_id) == "ready":
                    return  # already loaded (a retried task): nothing to do
                raise AlreadyExists(f"book {book_id} exists but is not ready")
            store.create_standalone_partitions(conn, book_id)
            store.copy_nodes(conn, book_id, node_rows)
            store.copy_atoms(conn, book_id, atom_rows, vectors)
            store.index_and_attach_partitions(conn, book_id, embedder.dimension)
            store.mark_book_ready(conn, book_id, len(node_rows), len(atom_rows))
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name != "books_content_sha256_key":
            raise
        with conn.transaction():
            existing = store.book_id_by_sha256(conn, sha256)
        raise DuplicateBook(sha256, existing) from exc


def delete_book(conn: psycopg.Connection[Any], book_id: uuid.UUID) -> bool:
    """Remove the book with its nodes and atoms in one transaction; False when it did not exist."""
    with conn.transaction():
        return store.delete_book(conn, book_id)
