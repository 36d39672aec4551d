"""Search rules: what a valid request is, which embeddings may be compared, and rank fusion."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy

from common.errors import FailedPrecondition, InvalidArgument
from content_svc.rules.types import Book, Candidate, SearchMode, SearchQuery

MAX_TOP_K = 100
DEFAULT_TOP_K = 10
MAX_BOOKS_PER_SEARCH = 100
MAX_QUERY_CHARS = 4000


@dataclass(frozen=True)
class FusionWeights:
    """Reciprocal rank fusion: score = sum(weight / (k + rank)) over the rankers that found an atom.

    Lexical evidence gets the larger weight: with the default hashing embedder BM25 is the stronger
    ranker (DESIGN.md §4), and the vector ranker mostly breaks ties and adds near-synonym recall.
    """

    text: float = 1.0
    vector: float = 0.5
    k: int = 60
    # Each ranker contributes this many candidates (at least top_k).
    depth: int = 50
    # Text candidates scoring below this fraction of the best BM25 score matched only common words;
    # ranks alone cannot tell that, and letting them vote buries a passage with the rare exact term.
    text_relative_cutoff: float = 0.2


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
    if not query.book_ids:
        violations["book_ids"] = "at least one book id is required"
    elif len(set(query.book_ids)) > MAX_BOOKS_PER_SEARCH:
        violations["book_ids"] = f"at most {MAX_BOOKS_PER_SEARCH} books per search"
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


def embedding_of(books: Sequence[Book]) -> tuple[str, int]:
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


def fuse(
    vector_ranking: Sequence[Candidate], text_ranking: Sequence[Candidate], weights: FusionWeights
) -> list[Candidate]:
    """Reciprocal rank fusion of the two rankings, best first (ties broken by atom id)."""
    if text_ranking:
        floor = text_ranking[0].score * weights.text_relative_cutoff
        text_ranking = [candidate for candidate in text_ranking if candidate.score >= floor]
    fused: dict[tuple[uuid.UUID, uuid.UUID], float] = {}
    for weight, ranking in ((weights.vector, vector_ranking), (weights.text, text_ranking)):
        for rank, candidate in enumerate(ranking, start=1):
            key = (candidate.book_id, candidate.atom_id)
            fused[key] = fused.get(key, 0.0) + weight / (weights.k + rank)
    ordered = sorted(fused.items(), key=lambda item: (-item[1], str(item[0][1])))
    return [Candidate(book_id, atom_id, score) for (book_id, atom_id), score in ordered]


def ranked(
    mode: SearchMode, vector_ranking: Sequence[Candidate], text_ranking: Sequence[Candidate], fusion: FusionWeights
) -> list[Candidate]:
    """The ranking a mode answers with."""
    if mode is SearchMode.VECTOR:
        return list(vector_ranking)
    if mode is SearchMode.TEXT:
        return list(text_ranking)
    return fuse(vector_ranking, text_ranking, fusion)
