"""Search rules: what a valid request is, which embeddings may be compared, and rank fusion."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy

from common.errors import FailedPrecondition, InvalidArgument, NotFound
from content_svc.rules.types import (
    Candidate,
    CatalogueEntry,
    SearchMode,
    SearchQuery,
    Subtree,
    TermPostings,
    VectorBlock,
)

MAX_TOP_K = 100
DEFAULT_TOP_K = 10
# A limit on an explicit list of books; an empty list searches the whole library.
MAX_BOOKS_PER_SEARCH = 100
MAX_QUERY_CHARS = 4000
# pgvector indexes halfvec up to this many dimensions; books with more are always searched exactly.
MAX_INDEXED_DIMENSION = 4000


@dataclass(frozen=True)
class FusionWeights:
    """Reciprocal rank fusion: score = sum(weight / (k + rank)) over the rankers that found an atom.

    Lexical evidence gets the larger weight: with the default hashing embedder BM25 is the stronger
    ranker (DESIGN.md §4), and the vector ranker mostly breaks ties and adds near-synonym recall.
    The vector's weight also grows with the query: the vector of two or three words is little more
    than those words (which BM25 matches better, weighed by rarity) plus hashing noise, and it cost
    title-like queries their right answer; a sentence's vector carries its phrasing. So the weight
    is `vector * min(1, (lexemes / full_vector_lexemes) ** 2)` for a query of `lexemes` distinct
    lexemes (full weight without query text). docs/benchmarks.md has the measurements behind it.
    """

    text: float = 1.0
    vector: float = 0.5
    k: int = 60
    full_vector_lexemes: int = 7
    # Each ranker contributes this many candidates (at least top_k).
    depth: int = 50
    # Text candidates scoring below this fraction of the best BM25 score matched only common words;
    # ranks alone cannot tell that, and letting them vote buries a passage with the rare exact term.
    text_relative_cutoff: float = 0.2

    def vector_weight(self, query_lexemes: int) -> float:
        if query_lexemes == 0:
            return self.vector
        return self.vector * min(1.0, (query_lexemes / self.full_vector_lexemes) ** 2)


@dataclass(frozen=True)
class Bm25:
    """Okapi BM25's free parameters (the usual ones)."""

    k1: float = 1.2
    b: float = 0.75


@dataclass(frozen=True)
class RetrievalSettings:
    """How vectors are searched: exactly up to `exact_max_atoms` atoms in scope (in process when the
    scope's vectors fit the vector cache's `cache_bytes`, else in SQL when the cache is off),
    through the dimension's HNSW index above that."""

    exact_max_atoms: int = 150_000
    cache_bytes: int = 256 * 2**20

    @property
    def in_process(self) -> bool:
        return self.cache_bytes > 0


# A query is sparse when at most 1 / SPARSE_QUERY_SHARE of its dimensions are non-zero.
SPARSE_QUERY_SHARE = 4


class VectorRoute(enum.Enum):
    IN_PROCESS = "in_process"  # exact, over the process' cached vector blocks
    EXACT = "exact"  # exact, a scan in SQL
    INDEX = "index"  # the dimension's HNSW index (iterative scan, book filter)


@dataclass(frozen=True)
class ValidSearch:
    """A checked search request: stripped text, distinct book ids, the raw query vector if given."""

    book_ids: list[uuid.UUID]
    text: str
    vector: numpy.ndarray[Any, Any] | None
    node_id: uuid.UUID | None
    top_k: int
    mode: SearchMode

    def depth(self, fusion: FusionWeights) -> int:
        """How many candidates each ranker contributes."""
        return self.top_k if self.mode is not SearchMode.HYBRID else max(self.top_k, fusion.depth)


def validate_search(query: SearchQuery) -> ValidSearch:
    """The request checked field by field; InvalidArgument naming every bad field."""
    text = query.text.strip()
    violations: dict[str, str] = {}
    if len(set(query.book_ids)) > MAX_BOOKS_PER_SEARCH:
        violations["book_ids"] = (
            f"at most {MAX_BOOKS_PER_SEARCH} books when listed; leave book_ids empty to search every book"
        )
    if not text and not query.vector:
        violations["query"] = "give query text or a query_vector"
    if len(query.text) > MAX_QUERY_CHARS:
        violations["query"] = f"at most {MAX_QUERY_CHARS} characters"
    if not 1 <= query.top_k <= MAX_TOP_K:
        violations["top_k"] = f"must be between 1 and {MAX_TOP_K}"
    if query.mode is SearchMode.TEXT and not text:
        violations["query"] = "text search needs query text"
    vector: numpy.ndarray[Any, Any] | None = None
    if query.vector:
        vector = numpy.asarray(query.vector, dtype=numpy.float32)
        if not numpy.isfinite(vector).all():
            violations["query_vector"] = "must contain only finite numbers"
        elif not numpy.any(vector):
            violations["query_vector"] = "must not be all zeros"
    if violations:
        raise InvalidArgument(violations)
    return ValidSearch(
        book_ids=list(dict.fromkeys(query.book_ids)), text=text, vector=vector, node_id=query.node_id,
        top_k=query.top_k, mode=query.mode,
    )


@dataclass(frozen=True)
class SearchScope:
    """The books a search reads, and the embedding its vectors are compared in (None: text only)."""

    books: list[CatalogueEntry]
    embedding: tuple[str, int] | None
    # Every ready book the search could read: no book filter is needed.
    whole_library: bool

    @property
    def book_nos(self) -> list[int]:
        return [book.book_no for book in self.books]

    @property
    def atom_count(self) -> int:
        return sum(book.atom_count for book in self.books)


def unknown_books(valid: ValidSearch, catalogue: Mapping[uuid.UUID, CatalogueEntry]) -> list[uuid.UUID]:
    return [book_id for book_id in valid.book_ids if book_id not in catalogue]


def search_scope(
    valid: ValidSearch, catalogue: Mapping[uuid.UUID, CatalogueEntry], query_embedder: tuple[str, int]
) -> SearchScope:
    """The books searched and the embedding compared in.

    Listed books must all be ready (NotFound names the first that is not) and, when vectors are
    compared, embedded alike (FailedPrecondition otherwise). An empty list means every ready book:
    all of them for text search; for vector and hybrid search those embedded like the query (by the
    service's embedder, or of the raw query vector's dimension), since other vectors cannot be
    compared with it.
    """
    uses_vectors = valid.mode is not SearchMode.TEXT
    if valid.book_ids:
        for book_id in valid.book_ids:
            if book_id not in catalogue:
                raise NotFound("book", str(book_id))
        books = [catalogue[book_id] for book_id in valid.book_ids]
        if not uses_vectors:
            return SearchScope(books, None, False)
        embedding = embedding_of(books)
        check_query_embedding(valid, embedding, query_embedder)
        return SearchScope(books, embedding, False)
    everything = sorted(catalogue.values(), key=lambda book: book.book_no)
    if not uses_vectors:
        return SearchScope(everything, None, True)
    if valid.vector is None:
        books = [b for b in everything if (b.embedding_model, b.embedding_dimension) == query_embedder]
        return SearchScope(books, query_embedder, len(books) == len(everything))
    books = [b for b in everything if b.embedding_dimension == valid.vector.shape[0]]
    if not books:
        raise InvalidArgument({"query_vector": f"no book has {valid.vector.shape[0]}-dimensional vectors"})
    return SearchScope(books, embedding_of(books), len(books) == len(everything))


def embedding_of(books: Sequence[CatalogueEntry]) -> tuple[str, int]:
    """The (model, dimension) the searched books share; refuses to compare vectors of different embedders."""
    models = {(book.embedding_model, book.embedding_dimension) for book in books}
    if len(models) > 1:
        raise FailedPrecondition(
            "the selected books were embedded with different models "
            f"({', '.join(sorted(f'{m}/{d}' for m, d in models))}); search them separately",
            violation_type="EMBEDDING_MODEL_MISMATCH",
        )
    ((model, dimension),) = models
    return model, dimension


def check_query_embedding(valid: ValidSearch, embedding: tuple[str, int], query_embedder: tuple[str, int]) -> None:
    """A raw query vector must have the books' dimension; query text is embedded by the service's embedder,
    which must be the books' own."""
    if valid.vector is not None:
        check_query_vector(valid.vector, embedding[1])
    else:
        check_query_embedder(embedding, query_embedder)


def check_query_vector(vector: numpy.ndarray[Any, Any], dimension: int) -> None:
    if vector.shape[0] != dimension:
        raise InvalidArgument({"query_vector": f"has {vector.shape[0]} dimensions; the books use {dimension}"})


def check_query_embedder(book_embedding: tuple[str, int], query_embedding: tuple[str, int]) -> None:
    """Query text can only be compared with books embedded by the embedder that embeds the query."""
    if book_embedding != query_embedding:
        (model, dimension), (query_model, query_dimension) = book_embedding, query_embedding
        raise FailedPrecondition(
            f"the books were embedded with {model} ({dimension} dimensions) but this service embeds "
            f"queries with {query_model} ({query_dimension} dimensions); "
            "re-ingest the books or configure the same embedder",
            violation_type="EMBEDDING_MODEL_MISMATCH",
            subject=model,
        )


def vector_route(scope: SearchScope, subtree: bool, settings: RetrievalSettings) -> VectorRoute:
    """Exact for a subtree (within one book) and for scopes of up to `exact_max_atoms` atoms: in
    process while their float32 vectors fit the cache (a scope that does not would evict itself on
    every search), in SQL when there is no cache. The HNSW index for more."""
    assert scope.embedding is not None
    if subtree:
        return VectorRoute.IN_PROCESS if settings.in_process else VectorRoute.EXACT
    if scope.atom_count <= settings.exact_max_atoms:
        if not settings.in_process:
            return VectorRoute.EXACT
        if scope.atom_count * scope.embedding[1] * 4 <= settings.cache_bytes:
            return VectorRoute.IN_PROCESS
    if scope.embedding[1] > MAX_INDEXED_DIMENSION:
        return VectorRoute.EXACT
    return VectorRoute.INDEX


def nearest(
    blocks: Sequence[tuple[int, VectorBlock]], query: numpy.ndarray[Any, Any], depth: int, subtree: Subtree | None
) -> list[Candidate]:
    """Exact cosine top `depth` over (book_no, block) pairs, best first, ties by (book_no, ordinal);
    within `subtree` only when given. Score = cosine similarity.

    A query with few non-zero dimensions (a short text through the hashing embedder: a dozen of 384)
    is multiplied with those rows of each block only: the same sums, ~30x less memory read."""
    unit = numpy.asarray(query, dtype=numpy.float32)
    unit = unit / (numpy.linalg.norm(unit) or 1.0)
    dimensions = numpy.flatnonzero(unit)
    sparse = dimensions.shape[0] * SPARSE_QUERY_SHARE <= unit.shape[0]
    weights = unit[dimensions]
    scores, books, ordinals = [], [], []
    for book_no, block in blocks:
        if subtree is not None and book_no != subtree.book_no:
            continue
        score = weights @ block.by_dimension[dimensions] if sparse else unit @ block.by_dimension
        ordinal = block.ordinals
        if subtree is not None:
            within = (block.preorders >= subtree.first) & (block.preorders <= subtree.last)
            score, ordinal = score[within], ordinal[within]
        scores.append(score)
        books.append(numpy.full(ordinal.shape[0], book_no, dtype=numpy.int64))
        ordinals.append(ordinal)
    if not scores:
        return []
    score, book, ordinal = numpy.concatenate(scores), numpy.concatenate(books), numpy.concatenate(ordinals)
    if score.shape[0] > depth:
        keep = numpy.argpartition(-score, depth - 1)[:depth]
        score, book, ordinal = score[keep], book[keep], ordinal[keep]
    order = numpy.lexsort((ordinal, book, -score))
    return [Candidate(int(book[i]), int(ordinal[i]), float(score[i])) for i in order]


def bm25(
    terms: Sequence[TermPostings], atoms: float, mean_length: float, params: Bm25, depth: int,
    only: numpy.ndarray[Any, Any] | None = None,
) -> list[Candidate]:
    """Okapi BM25's top `depth`, best first (ties by book number, then ordinal); with `only`, among
    the atoms of those ordinals (a subtree of the one book searched: statistics stay the book's).

    score(atom) = sum over the query's lexemes in it of idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b *
    length / mean_length)), with idf = ln(1 + (N - df + 0.5) / (df + 0.5)) (Lucene's, never negative),
    N the number of atoms searched and df the number of them holding the lexeme.
    """
    if not terms:
        return []
    k1, b = params.k1, params.b
    parts = []
    for term in terms:
        df = term.ordinals.shape[0]
        idf = numpy.log(1 + (atoms - df + 0.5) / (df + 0.5))
        parts.append(idf * term.tfs * (k1 + 1) / (term.tfs + k1 * (1 - b + b * term.lengths / mean_length)))
    scores = numpy.concatenate(parts)
    ordinals = numpy.concatenate([term.ordinals for term in terms])
    if only is not None:
        scores[~numpy.isin(ordinals, only)] = 0.0
    # Summed per atom over a dense index: each book present gets the positions [offset, offset + its
    # largest ordinal]; a book's largest ordinal in a list is the list's last entry.
    present = numpy.unique(numpy.concatenate([term.books for term in terms]))
    widths = numpy.zeros(present.shape[0], dtype=numpy.int64)
    book_index = []
    for term in terms:
        index = numpy.searchsorted(present, term.books)
        last = term.ordinals[numpy.cumsum(term.counts) - 1]
        widths[index] = numpy.maximum(widths[index], last + 1)
        book_index.append(numpy.repeat(index, term.counts))
    offsets = numpy.concatenate(([0], numpy.cumsum(widths)[:-1]))
    positions = offsets[numpy.concatenate(book_index)] + ordinals
    totals = numpy.bincount(positions, weights=scores, minlength=int(widths.sum()))
    hit = numpy.flatnonzero(totals)
    if hit.shape[0] > depth:
        hit = hit[numpy.argpartition(-totals[hit], depth - 1)[:depth]]
    # Positions grow with (book number, ordinal): sorting by them breaks ties the same way.
    hit = hit[numpy.lexsort((hit, -totals[hit]))]
    book_at = numpy.searchsorted(offsets, hit, side="right") - 1
    return [Candidate(int(present[i]), int(position - offsets[i]), float(totals[position]))
            for i, position in zip(book_at, hit, strict=True)]


def bm25_statistics(books: Sequence[CatalogueEntry]) -> tuple[float, float]:
    """(number of atoms, mean atom length in tokens) of the searched books: BM25's N and avgdl."""
    atoms = sum(book.atom_count for book in books)
    tokens = sum(book.token_count for book in books)
    return float(atoms), (tokens / atoms if atoms and tokens else 1.0)


def fuse(
    vector_ranking: Sequence[Candidate], text_ranking: Sequence[Candidate], weights: FusionWeights,
    query_lexemes: int,
) -> list[Candidate]:
    """Reciprocal rank fusion of the two rankings, best first (ties broken by book number, then ordinal)."""
    if text_ranking:
        floor = text_ranking[0].score * weights.text_relative_cutoff
        text_ranking = [candidate for candidate in text_ranking if candidate.score >= floor]
    fused: dict[tuple[int, int], float] = {}
    for weight, ranking in ((weights.vector_weight(query_lexemes), vector_ranking), (weights.text, text_ranking)):
        for rank, candidate in enumerate(ranking, start=1):
            key = (candidate.book_no, candidate.ordinal)
            fused[key] = fused.get(key, 0.0) + weight / (weights.k + rank)
    ordered = sorted(fused.items(), key=lambda item: (-item[1], item[0]))
    return [Candidate(book_no, ordinal, score) for (book_no, ordinal), score in ordered]


def ranked(
    mode: SearchMode, vector_ranking: Sequence[Candidate], text_ranking: Sequence[Candidate], fusion: FusionWeights,
    query_lexemes: int,
) -> list[Candidate]:
    """The ranking a mode answers with."""
    if mode is SearchMode.VECTOR:
        return list(vector_ranking)
    if mode is SearchMode.TEXT:
        return list(text_ranking)
    return fuse(vector_ranking, text_ranking, fusion, query_lexemes)
