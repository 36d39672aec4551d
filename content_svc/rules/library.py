"""Rules for writing a parsed book into the library: what a loadable book is, its deterministic ids,
and the node and atom rows it becomes (pre-order positions, subtree ends, breadcrumbs)."""

from __future__ import annotations

import dataclasses
import re
import uuid
from dataclasses import dataclass
from typing import Any

import numpy

from common.errors import InvalidArgument
from content_svc.contract import Embedder, ParsedBook, Vectors

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def node_uuid(book_id: uuid.UUID, key: int) -> uuid.UUID:
    """Deterministic node id, so a retried load of the same book produces the same ids."""
    return uuid.uuid5(book_id, f"node:{key}")


def atom_uuid(book_id: uuid.UUID, ordinal: int) -> uuid.UUID:
    return uuid.uuid5(book_id, f"atom:{ordinal}")


@dataclass(frozen=True)
class NodeRow:
    node_id: uuid.UUID
    parent_node_id: uuid.UUID | None
    preorder: int
    subtree_end: int
    level: int
    ordinal: int
    title: str
    first_page: int
    last_page: int
    path_titles: list[str]


@dataclass(frozen=True)
class AtomRow:
    atom_id: uuid.UUID
    node_id: uuid.UUID
    node_preorder: int
    ordinal: int
    page_number: int
    text: str


@dataclass(frozen=True)
class LoadableBook:
    """A checked book: trimmed metadata, its rows and its vectors, ready to be written."""

    book: ParsedBook
    nodes: list[NodeRow]
    atoms: list[AtomRow]
    vectors: Vectors


def loadable_book(book_id: uuid.UUID, book: ParsedBook, embeddings: Any, embedder: Embedder) -> LoadableBook:
    """`book` checked and turned into rows; InvalidArgument when it is inconsistent.

    `embeddings[i]` is the vector of `book.atoms[i]`, produced by `embedder`.
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
    clean = dataclasses.replace(
        book, title=book.title.strip(), authors=[a.strip() for a in book.authors if a.strip()], content_sha256=sha256
    )
    return LoadableBook(clean, node_rows, _atom_rows(book_id, book, position), vectors)


def _node_rows(book_id: uuid.UUID, book: ParsedBook) -> tuple[list[NodeRow], dict[int, int]]:
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
        NodeRow(
            node_id=node_uuid(book_id, node.key),
            parent_node_id=None if node.parent_key is None else node_uuid(book_id, node.parent_key),
            preorder=index, subtree_end=subtree_end[index], level=node.level, ordinal=node.ordinal,
            title=node.title, first_page=node.first_page, last_page=node.last_page, path_titles=paths[node.key],
        )
        for index, node in enumerate(book.nodes)
    ]
    return rows, position


def _atom_rows(book_id: uuid.UUID, book: ParsedBook, position: dict[int, int]) -> list[AtomRow]:
    rows: list[AtomRow] = []
    seen: set[int] = set()
    for index, atom in enumerate(book.atoms):
        if atom.node_key not in position:
            raise InvalidArgument({f"atoms[{index}].node_key": f"no node with key {atom.node_key}"})
        if atom.ordinal in seen or atom.ordinal < 0:
            raise InvalidArgument({f"atoms[{index}].ordinal": "ordinals must be unique and >= 0"})
        seen.add(atom.ordinal)
        rows.append(AtomRow(
            atom_id=atom_uuid(book_id, atom.ordinal), node_id=node_uuid(book_id, atom.node_key),
            node_preorder=position[atom.node_key], ordinal=atom.ordinal, page_number=atom.page_number,
            text=atom.text.replace("\x00", ""),  # Postgres text cannot hold NUL
        ))
    return rows
