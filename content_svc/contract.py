"""ContentService's published contract for the ingest pipeline: what a parsed book is, what an
embedder does, and the errors loading one can raise. No psycopg, no gRPC (import-linter checks it).

Ingest builds a `ParsedBook`, embeds its atoms with an `Embedder` and hands both to
`content_svc.writer.load_book` on its own connection; that is all it knows of content.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy
import numpy.typing as npt

from common.errors import AlreadyExists

Vectors = npt.NDArray[numpy.float32]


@dataclass(frozen=True, kw_only=True)
class BookMetadata:
    """What an uploader says about a book (the library keeps it with the book)."""

    title: str
    authors: list[str] = field(default_factory=list)
    subject: str = ""
    grade_level: str = ""

    def metadata(self) -> dict[str, Any]:
        """Just these fields (of a subclass that carries more), to build another kind of book record."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(BookMetadata)}


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


@dataclass(frozen=True, kw_only=True)
class ParsedBook(BookMetadata):
    page_count: int
    content_sha256: str
    # In reading pre-order: a node comes before its children, siblings in order.
    nodes: list[ParsedNode]
    atoms: list[ParsedAtom]


class Embedder(Protocol):
    """Turns texts into vectors. Atoms and queries must go through the same one: a book records the
    `model_name` and `dimension` that produced its vectors, and searches refuse to mix them."""

    model_name: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> Vectors:
        """float32 array of shape (len(texts), dimension), every row L2-normalised."""
        ...


class DuplicateBook(AlreadyExists):
    """Another book with the same source file (content_sha256) is already in the library."""

    def __init__(self, content_sha256: str, existing_book_id: uuid.UUID | None) -> None:
        self.content_sha256 = content_sha256
        self.existing_book_id = existing_book_id
        super().__init__(
            f"a book with content_sha256 {content_sha256} already exists (book_id {existing_book_id})"
        )
