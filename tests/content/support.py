"""Helpers for the content tests: synthetic books written with the real writer (content_svc.writer)."""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy
import psycopg

from content_svc.__main__ import use_cases as content_use_cases
from content_svc.contract import Embedder, ParsedAtom, ParsedBook, ParsedNode, Vectors
from content_svc.embedding import HashingEmbedder
from content_svc.rules.library import atom_uuid, node_uuid
from content_svc.usecases import ContentUseCases
from content_svc.writer import load_book
from devstack import Stack
from teaching.content.v1 import content_service_pb2 as pb

EMBEDDER = HashingEmbedder(384)  # what the stack's content service uses by default


class FixedEmbedder:
    """The embedder a book's given vectors claim to come from (it embeds nothing itself)."""

    def __init__(self, model_name: str, dimension: int) -> None:
        self.model_name = model_name
        self.dimension = dimension

    def embed(self, texts: Sequence[str]) -> Vectors:
        raise NotImplementedError("this book's vectors are given")


@contextlib.contextmanager
def use_cases(stack: Stack, *, listen: bool = True, **settings: Any) -> Iterator[ContentUseCases]:
    """ContentService's use cases in this process, against the stack, with these settings changed
    (e.g. cache_enabled, vector_cache_mb, search_exact_max_atoms)."""
    with contextlib.ExitStack() as resources:
        yield content_use_cases(stack.settings.model_copy(update=settings), resources, pool_name="content-test",
                                listen=listen)


def unique_sha() -> str:
    return hashlib.sha256(uuid.uuid4().bytes).hexdigest()


def load(
    conninfo: str,
    book: ParsedBook,
    *,
    embedder: Embedder = EMBEDDER,
    embeddings: numpy.ndarray[Any, Any] | None = None,
    book_id: uuid.UUID | None = None,
) -> uuid.UUID:
    book_id = book_id or uuid.uuid4()
    vectors = embeddings if embeddings is not None else embedder.embed([a.text for a in book.atoms])
    with psycopg.connect(conninfo) as conn:
        load_book(conn, book_id, book, vectors, embedder)
    return book_id


@dataclass(frozen=True)
class Textbook:
    """A small biology book:

    Part I Foundations (1-20)
      Chapter 1 Cells (1-10)
        1.1 Membranes (1-5)
        1.2 Organelles (6-10)
      Chapter 2 Energy (11-20)
    Part II Ecology (21-40)
      Chapter 3 Populations (21-40)
    """

    book_id: uuid.UUID
    book: ParsedBook

    def node_id(self, key: int) -> str:
        return str(node_uuid(self.book_id, key))

    def atom_id(self, ordinal: int) -> str:
        return str(atom_uuid(self.book_id, ordinal))


TEXTBOOK_NODES = [
    ParsedNode(key=10, parent_key=None, level=1, ordinal=0, title="Part I Foundations", first_page=1, last_page=20),
    ParsedNode(key=11, parent_key=10, level=2, ordinal=0, title="Chapter 1 Cells", first_page=1, last_page=10),
    ParsedNode(key=12, parent_key=11, level=3, ordinal=0, title="1.1 Membranes", first_page=1, last_page=5),
    ParsedNode(key=13, parent_key=11, level=3, ordinal=1, title="1.2 Organelles", first_page=6, last_page=10),
    ParsedNode(key=14, parent_key=10, level=2, ordinal=1, title="Chapter 2 Energy", first_page=11, last_page=20),
    ParsedNode(key=20, parent_key=None, level=1, ordinal=1, title="Part II Ecology", first_page=21, last_page=40),
    ParsedNode(key=21, parent_key=20, level=2, ordinal=0, title="Chapter 3 Populations", first_page=21, last_page=40),
]

TEXTBOOK_ATOMS = [
    (12, 1, "The cell membrane is a lipid bilayer that controls what enters and leaves the cell."),
    (12, 3, "Proteins embedded in the membrane act as channels and pumps for ions."),
    (13, 6, "Mitochondria are organelles that release energy from food molecules."),
    (13, 8, "The nucleus stores the genetic material of the cell and controls its activity."),
    (14, 12, "Photosynthesis captures light energy and stores it in glucose."),
    (14, 15, "Cellular respiration releases the energy stored in glucose as ATP."),
    (21, 22, "A population is a group of organisms of one species living in the same area."),
    (21, 30, "Predators and prey populations rise and fall in linked cycles."),
    (21, 38, "Carrying capacity is the largest population an environment can support."),
]


def textbook_parsed(title: str = "Biology Basics") -> ParsedBook:
    atoms = [
        ParsedAtom(node_key=node, ordinal=i, page_number=page, text=text)
        for i, (node, page, text) in enumerate(TEXTBOOK_ATOMS)
    ]
    return ParsedBook(
        title=title, authors=["A. Author", "B. Author"], subject="biology", grade_level="9",
        page_count=40, content_sha256=unique_sha(), nodes=list(TEXTBOOK_NODES), atoms=atoms,
    )


def read_pages(stub: Any, metadata: list[tuple[str, str]], book_id: str, node_id: str = "",
               page_size: int = 2) -> list[list[pb.ContentAtom]]:
    """Every page of ListContentAtoms for a book or a node's subtree, following next_page_token."""
    pages: list[list[pb.ContentAtom]] = []
    token = ""
    while True:
        response = stub.ListContentAtoms(pb.ListContentAtomsRequest(
            book_id=book_id, node_id=node_id, page_size=page_size, page_token=token), metadata=metadata)
        pages.append(list(response.atoms))
        token = response.next_page_token
        if not token:
            return pages
