"""A realistic library for the search benchmarks: real prose resampled into many books.

The text is real: the passages of thinkpython2 (parsed by the ingest pipeline's own functions) and
the docstrings of the Python standard library (read from its source files with `ast`, so nothing
is imported). Each source (a chapter of the book, a module of the standard library) is a topic;
a bench book takes fifty topics as its sections and fills each with passages of 50-170 words read
on through the topic's sentences from a random place, plus now and then one sentence from anywhere.
So books differ in subject like the books of a real library, their passages read like real
passages, and the hashing embedder sees the clustered vectors real text gives.
"""

from __future__ import annotations

import ast
import re
import sysconfig
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy
import psycopg

from bench.synthetic import CHAPTERS, SECTIONS_PER_CHAPTER, book_from_texts, book_uuid
from content_svc.contract import Embedder, ParsedBook
from content_svc.writer import load_book

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'`])")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# The library's text always comes from thinkpython2 (and the standard library's docstrings).
LIBRARY_PDF = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "thinkpython2.pdf"
MIN_TOPIC_SENTENCES = 12
MAX_WORDS = 200
# Parts of the standard library that are tests, tools or platform-specific: not documentation.
_SKIPPED_PARTS = {"site-packages", "test", "tests", "idlelib", "lib2to3", "tkinter", "turtledemo", "ensurepip",
                  "venv", "pydoc_data", "__pycache__"}


@dataclass(frozen=True)
class Topic:
    title: str
    sentences: list[str]


def sentences_of(text: str) -> list[str]:
    flat = " ".join(text.split())
    return [s for s in _SENTENCE_END.split(flat) if len(s.split()) >= 3]


def stdlib_topics(root: Path | None = None) -> list[Topic]:
    """One topic per standard-library module with enough documentation: its docstrings' sentences."""
    root = root or Path(sysconfig.get_paths()["stdlib"])
    topics = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if _SKIPPED_PARTS & set(relative.parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        sentences: list[str] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node)
                for paragraph in _PARAGRAPH_BREAK.split(doc or ""):
                    if not paragraph.lstrip().startswith(">>>"):  # doctest examples are code, not prose
                        sentences += sentences_of(paragraph)
        if len(sentences) >= MIN_TOPIC_SENTENCES:
            module = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
            topics.append(Topic(f"The {module} module", sentences))
    return topics


def book_topics(pdf: Path) -> list[Topic]:
    """One topic per chapter of a real book: its passages' sentences, in reading order."""
    from bench.ingest import parse_pdf

    _, nodes, atoms = parse_pdf(pdf)
    parent = {node.key: node.parent_key for node in nodes}
    titles = {node.key: node.title for node in nodes}

    def chapter(key: int) -> int:
        while parent[key] is not None:
            key = parent[key]  # type: ignore[assignment]
        return key

    by_chapter: dict[int, list[str]] = {}
    for atom in atoms:
        by_chapter.setdefault(chapter(atom.node_key), []).extend(sentences_of(atom.text))
    return [Topic(titles[key], sentences) for key, sentences in by_chapter.items()
            if len(sentences) >= MIN_TOPIC_SENTENCES]


@dataclass
class RealisticCorpus:
    topics: list[Topic]
    rng: numpy.random.Generator

    @classmethod
    def create(cls, pdf: Path, seed: int = 13) -> RealisticCorpus:
        return cls(book_topics(pdf) + stdlib_topics(), numpy.random.default_rng(seed))

    def _passages(self, topic: Topic, count: int) -> list[str]:
        """`count` passages of ~50-170 words read on through the topic from a random place; when the
        topic runs out, reading goes on into other topics rather than repeating it."""
        cursor = int(self.rng.integers(0, len(topic.sentences)))
        stream = topic.sentences[cursor:] + topic.sentences[:cursor]
        cursor = 0
        passages = []
        for _ in range(count):
            target = int(self.rng.integers(50, 171))
            picked: list[str] = []
            while sum(len(s.split()) for s in picked) < target:
                if cursor == len(stream):
                    stream += self.topics[int(self.rng.integers(0, len(self.topics)))].sentences
                picked.append(stream[cursor])
                cursor += 1
            if self.rng.random() < 0.1:  # real passages wander off topic now and then
                stray = self.topics[int(self.rng.integers(0, len(self.topics)))]
                picked.insert(int(self.rng.integers(0, len(picked) + 1)),
                              stray.sentences[int(self.rng.integers(0, len(stray.sentences)))])
            passages.append(" ".join(" ".join(picked).split()[:MAX_WORDS]))
        return passages

    def book(self, atoms: int, title: str) -> ParsedBook:
        """Ten chapters of five sections; each section reads on through a topic of its own."""
        sections = CHAPTERS * SECTIONS_PER_CHAPTER
        chosen = [self.topics[int(i)] for i in self.rng.choice(len(self.topics), sections, replace=False)]
        per_section = -(-atoms // sections)
        texts = [text for topic in chosen for text in self._passages(topic, per_section)][:atoms]
        chapter_titles = [chosen[c * SECTIONS_PER_CHAPTER].title for c in range(CHAPTERS)]
        return book_from_texts(texts, title, "realistic", chapter_titles)

    def queries(self, count: int, words: tuple[int, int] = (3, 7)) -> list[str]:
        """Short queries: a few consecutive words of a random sentence, as someone recalls a phrase."""
        queries: list[str] = []
        while len(queries) < count:
            topic = self.topics[int(self.rng.integers(0, len(self.topics)))]
            picked = topic.sentences[int(self.rng.integers(0, len(topic.sentences)))]
            sentence = re.findall(r"[A-Za-z][A-Za-z_]+", picked)
            length = int(self.rng.integers(words[0], words[1] + 1))
            if len(sentence) >= length:
                start = int(self.rng.integers(0, len(sentence) - length + 1))
                queries.append(" ".join(sentence[start : start + length]).lower())
        return queries


@dataclass(frozen=True)
class LoadedBook:
    book_id: uuid.UUID
    texts: list[str]
    vectors: numpy.ndarray


def generate_books(
    corpus: RealisticCorpus, embedder: Embedder, *, books: int, atoms_per_book: int, first_index: int = 0
) -> Iterator[tuple[ParsedBook, LoadedBook]]:
    for index in range(first_index, first_index + books):
        book = corpus.book(atoms_per_book, f"Realistic book {index}")
        texts = [atom.text for atom in book.atoms]
        yield book, LoadedBook(book_uuid("realistic", index), texts, embedder.embed(texts))


def load_realistic_books(
    conninfo: str, corpus: RealisticCorpus, embedder: Embedder, *, books: int, atoms_per_book: int,
    first_index: int = 0, keep: bool = True,
) -> list[LoadedBook]:
    """Generate, embed and load `books` books through content_svc's loader; with `keep`, their texts and
    vectors are kept (for the peers), else only their ids."""
    loaded = []
    with psycopg.connect(conninfo) as conn:
        for book, entry in generate_books(corpus, embedder, books=books, atoms_per_book=atoms_per_book,
                                          first_index=first_index):
            load_book(conn, entry.book_id, book, entry.vectors, embedder)
            loaded.append(entry if keep else LoadedBook(entry.book_id, [], numpy.empty((0, 0), numpy.float32)))
    return loaded


def scopes(book_ids: Sequence[uuid.UUID], size: int, count: int, seed: int = 3) -> list[list[uuid.UUID]]:
    """`count` random sets of `size` books (the whole library when size >= its size)."""
    rng = numpy.random.default_rng(seed)
    if size >= len(book_ids):
        return [list(book_ids)]
    return [[book_ids[int(i)] for i in rng.choice(len(book_ids), size, replace=False)] for _ in range(count)]
