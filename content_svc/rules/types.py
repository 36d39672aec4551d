"""Plain domain types of ContentService (no protobuf, no SQL)."""

from __future__ import annotations

import datetime
import enum
import uuid
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy
import numpy.typing as npt

from content_svc.contract import BookMetadata


@dataclass(frozen=True, kw_only=True)
class Book(BookMetadata):
    book_id: uuid.UUID
    # The compact number that keys the book's content rows (never shown to callers).
    book_no: int
    page_count: int
    content_sha256: str
    embedding_model: str
    embedding_dimension: int
    node_count: int
    atom_count: int
    create_time: datetime.datetime
    # Changes on every load; part of cache keys.
    load_id: uuid.UUID


@dataclass(frozen=True)
class Node:
    node_id: uuid.UUID
    parent_node_id: uuid.UUID | None
    level: int
    ordinal: int
    title: str
    first_page: int
    last_page: int
    preorder: int
    subtree_end: int


@dataclass(frozen=True)
class Atom:
    atom_id: uuid.UUID
    book_id: uuid.UUID
    node_id: uuid.UUID
    text: str
    page_number: int
    ordinal: int
    node_path: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CatalogueEntry:
    """What searching a ready book needs to know about it; every serving process keeps these in memory."""

    book_id: uuid.UUID
    # The compact number that keys the book's rows (migration 0007); never reused.
    book_no: int
    embedding_model: str
    embedding_dimension: int
    atom_count: int
    # Sum of the atoms' lengths in tokens (BM25).
    token_count: int
    # New on every load: what is cached about a book is keyed by it.
    load_id: uuid.UUID


class Candidate(NamedTuple):
    """One ranker's answer: an atom (by book number and ordinal) and its score (higher is better,
    comparable within one ranking)."""

    book_no: int
    ordinal: int
    score: float


@dataclass(frozen=True)
class VectorBlock:
    """A book's vectors for exact search in process, one column per atom: column i of `by_dimension`
    (dimension x atoms) is the vector of atom `ordinals[i]`, of the node at pre-order position
    `preorders[i]`, L2-normalised, so cosine similarity is a dot product. Dimension-major so that a
    query touching few dimensions (a short text hashed) reads only their rows."""

    ordinals: npt.NDArray[numpy.int32]
    preorders: npt.NDArray[numpy.int32]
    by_dimension: npt.NDArray[numpy.float32]

    @classmethod
    def from_rows(
        cls, ordinals: npt.NDArray[numpy.int32], preorders: npt.NDArray[numpy.int32], rows: npt.NDArray[Any]
    ) -> VectorBlock:
        """From one vector per row (any float type), normalised; all-zero rows stay zero."""
        matrix = numpy.asarray(rows, dtype=numpy.float32)
        norms = numpy.linalg.norm(matrix, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return cls(ordinals, preorders, numpy.ascontiguousarray((matrix / norms).T))

    @property
    def nbytes(self) -> int:
        return int(self.ordinals.nbytes + self.preorders.nbytes + self.by_dimension.nbytes)


@dataclass(frozen=True)
class TermPostings:
    """A query lexeme's postings in the searched books, book by book: `counts[j]` atoms of book
    `books[j]` (ascending) hold it. Entry i (grouped by book in that order, by ordinal within a
    book) says that the atom `ordinals[i]` holds the lexeme `tfs[i]` times and is `lengths[i]`
    tokens long."""

    lexeme: str
    books: npt.NDArray[numpy.int64]
    counts: npt.NDArray[numpy.int64]
    ordinals: npt.NDArray[numpy.int64]
    tfs: npt.NDArray[numpy.float64]
    lengths: npt.NDArray[numpy.float64]


@dataclass(frozen=True)
class SearchHit:
    atom: Atom
    # Higher is better; comparable only within one response.
    score: float


class SearchMode(enum.Enum):
    VECTOR = "vector"
    TEXT = "text"
    HYBRID = "hybrid"


@dataclass(frozen=True)
class Subtree:
    """A node's whole subtree: atoms whose node's pre-order position is in [first, last]."""

    book_no: int
    first: int
    last: int


@dataclass(frozen=True)
class SearchQuery:
    # Empty: every ready book (the library-wide search).
    book_ids: list[uuid.UUID]
    text: str = ""
    vector: list[float] | None = None
    node_id: uuid.UUID | None = None
    top_k: int = 10
    mode: SearchMode = SearchMode.HYBRID


class Scope(enum.Enum):
    ANY = "any"
    GLOBAL = "global"
    PRIVATE = "private"


@dataclass(frozen=True)
class Strategy:
    strategy_id: uuid.UUID
    # None for global strategies.
    owner_id: str | None
    name: str
    description: str
    instructions: str
    tags: list[str]
    create_time: datetime.datetime
    update_time: datetime.datetime

    @property
    def is_global(self) -> bool:
        return self.owner_id is None


@dataclass(frozen=True)
class StrategyFields:
    """The writable fields of a strategy (create, or the masked part of an update)."""

    name: str = ""
    description: str = ""
    instructions: str = ""
    tags: list[str] = field(default_factory=list)
