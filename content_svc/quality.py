"""Retrieval quality on queries with known answers (for `make bench` and tests).

A case is a query and the node(s) whose passages answer it (e.g. a section title mapped to that
section); hit@1 is the share of cases whose top result lies in one of those nodes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from content_svc.rules.types import SearchMode, SearchQuery
from content_svc.usecases import ContentUseCases


@dataclass(frozen=True)
class QualityCase:
    query: str
    answer_node_ids: frozenset[uuid.UUID]


def hit_at_1(
    service: ContentUseCases, book_ids: Sequence[uuid.UUID], cases: Sequence[QualityCase], mode: SearchMode
) -> float:
    if not cases:
        return 0.0
    hits = 0
    for case in cases:
        results = service.search(SearchQuery(book_ids=list(book_ids), text=case.query, top_k=1, mode=mode))
        hits += bool(results) and results[0].atom.node_id in case.answer_node_ids
    return hits / len(cases)


def quality_table(
    service: ContentUseCases, book_ids: Sequence[uuid.UUID], cases: Sequence[QualityCase]
) -> dict[SearchMode, float]:
    """hit@1 per search mode, e.g. for a benchmark's retrieval-quality table."""
    return {mode: hit_at_1(service, book_ids, cases, mode) for mode in SearchMode}
