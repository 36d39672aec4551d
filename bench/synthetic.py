"""Random-word books (the stress set of the search benchmarks), and the book outline every bench book shares.

Words are drawn with Zipf-like frequencies from a vocabulary of made-up words, so full-text search
has common and rare terms to match. No real book reads like this: the hashing embedder turns such
text into nearly orthogonal vectors, the hardest case for an ANN index, so it is kept as a stress
case reported apart from the realistic library (bench/library.py).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import numpy
import psycopg

from content_svc.contract import Embedder, ParsedAtom, ParsedBook, ParsedNode
from content_svc.writer import load_book

VOCABULARY_SIZE = 20_000
WORDS_PER_ATOM = (40, 90)
CHAPTERS = 10
SECTIONS_PER_CHAPTER = 5
_SYLLABLES = ["ka", "lo", "mi", "nu", "pe", "ra", "si", "to", "ve", "zu", "an", "el", "ir", "ox", "um", "by"]


def vocabulary(size: int = VOCABULARY_SIZE, seed: int = 7) -> list[str]:
    rng = numpy.random.default_rng(seed)
    words: dict[str, None] = {}
    while len(words) < size:
        length = int(rng.integers(2, 5))
        words["".join(_SYLLABLES[i] for i in rng.integers(0, len(_SYLLABLES), length))] = None
    return list(words)


@dataclass
class Corpus:
    """Deterministic text source: a vocabulary with Zipf-like weights."""

    words: list[str]
    weights: numpy.ndarray
    rng: numpy.random.Generator

    @classmethod
    def create(cls, seed: int = 11) -> Corpus:
        words = vocabulary()
        ranks = numpy.arange(1, len(words) + 1, dtype=numpy.float64)
        weights = 1.0 / ranks**1.05
        return cls(words, weights / weights.sum(), numpy.random.default_rng(seed))

    def passages(self, count: int) -> list[str]:
        lengths = self.rng.integers(WORDS_PER_ATOM[0], WORDS_PER_ATOM[1], count)
        picks = self.rng.choice(len(self.words), size=int(lengths.sum()), p=self.weights)
        texts: list[str] = []
        offset = 0
        for length in lengths:
            chosen = picks[offset : offset + length]
            offset += int(length)
            texts.append(" ".join(self.words[i] for i in chosen) + ".")
        return texts

    def queries(self, count: int, words: tuple[int, int] = (2, 5)) -> list[str]:
        """Short queries of mid-frequency words (the top 100 words are too common to be asked for)."""
        queries = []
        for _ in range(count):
            length = int(self.rng.integers(words[0], words[1] + 1))
            picks = self.rng.integers(100, 5000, length)
            queries.append(" ".join(self.words[i] for i in picks))
        return queries


def book_from_texts(texts: Sequence[str], title: str, subject: str,
                    chapter_titles: Sequence[str] = ()) -> ParsedBook:
    """`texts` as passages spread over chapters and their sections in order, two passages per page."""
    atoms = len(texts)
    nodes: list[ParsedNode] = []
    leaves: list[int] = []
    pages = max(1, (atoms + 1) // 2)
    sections = CHAPTERS * SECTIONS_PER_CHAPTER
    pages_per_section = max(1, pages // sections)
    key = 0
    for chapter in range(CHAPTERS):
        chapter_key = key
        first = min(pages, chapter * SECTIONS_PER_CHAPTER * pages_per_section + 1)
        span = SECTIONS_PER_CHAPTER * pages_per_section
        last = pages if chapter == CHAPTERS - 1 else max(first, min(pages, first + span - 1))
        name = chapter_titles[chapter] if chapter < len(chapter_titles) else f"Chapter {chapter + 1}"
        nodes.append(ParsedNode(key, None, 1, chapter, name, first, last))
        key += 1
        for section in range(SECTIONS_PER_CHAPTER):
            s_first = min(last, first + section * pages_per_section)
            s_last = last if section == SECTIONS_PER_CHAPTER - 1 else (
                max(s_first, min(last, s_first + pages_per_section - 1)))
            nodes.append(ParsedNode(key, chapter_key, 2, section, f"Section {chapter + 1}.{section + 1}",
                                    s_first, s_last))
            leaves.append(key)
            key += 1
    per_leaf = max(1, -(-atoms // len(leaves)))
    parsed_atoms = [
        ParsedAtom(node_key=leaves[min(i // per_leaf, len(leaves) - 1)], ordinal=i, page_number=min(pages, i // 2 + 1),
                   text=text)
        for i, text in enumerate(texts)
    ]
    sha = hashlib.sha256(f"{title}:{uuid.uuid4()}".encode()).hexdigest()
    return ParsedBook(title=title, authors=["Bench"], subject=subject, grade_level="", page_count=pages,
                      content_sha256=sha, nodes=nodes, atoms=parsed_atoms)


def synthetic_book(corpus: Corpus, atoms: int, title: str) -> ParsedBook:
    return book_from_texts(corpus.passages(atoms), title, "synthetic")


def book_uuid(label: str, index: int) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"bench-{label}-{index}-{uuid.uuid4()}")


def load_synthetic_books(
    conninfo: str, corpus: Corpus, embedder: Embedder, *, books: int, atoms_per_book: int, first_index: int = 0
) -> list[uuid.UUID]:
    """Generate, embed and load `books` books through content_svc's loader; their ids in order."""
    ids: list[uuid.UUID] = []
    with psycopg.connect(conninfo) as conn:
        for index in range(first_index, first_index + books):
            book = synthetic_book(corpus, atoms_per_book, f"Synthetic book {index}")
            vectors = embedder.embed([atom.text for atom in book.atoms])
            book_id = book_uuid("synthetic", index)
            load_book(conn, book_id, book, vectors, embedder)
            ids.append(book_id)
    return ids
