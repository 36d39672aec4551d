"""What a serving process keeps in memory (the catalogue of ready books, the vector cache) is rebuilt
from the database and stays correct across processes: two instances of ContentService's use cases
(each with its own catalogue, LISTEN connection and vector cache, as two replicas have) see every
load, deletion and reload at once, whichever of them or whoever else made it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy
import psycopg
import pytest

from common.errors import NotFound
from content_svc.rules.types import SearchMode, SearchQuery
from content_svc.usecases import ContentUseCases
from content_svc.writer import delete_book
from devstack import Stack
from tests.content.support import EMBEDDER, load, textbook_parsed, use_cases


@pytest.fixture(scope="module")
def replicas(stack: Stack) -> Iterator[tuple[ContentUseCases, ContentUseCases]]:
    with use_cases(stack) as first, use_cases(stack) as second:
        yield first, second


def _search(service: ContentUseCases, book_id: uuid.UUID, mode: SearchMode) -> list[str]:
    hits = service.search(SearchQuery(book_ids=[book_id], text="mitochondria energy", top_k=3, mode=mode))
    return [hit.atom.text for hit in hits]


@pytest.mark.parametrize("mode", list(SearchMode), ids=[m.value for m in SearchMode])
def test_loads_deletions_and_reloads_are_seen_by_every_process(
    conninfo: str, replicas: tuple[ContentUseCases, ContentUseCases], mode: SearchMode
) -> None:
    first, second = replicas
    parsed = textbook_parsed("Seen everywhere")
    book_id = load(conninfo, parsed)
    # Both processes warm their catalogue and vector cache on this book.
    before = _search(first, book_id, mode)
    assert before and _search(second, book_id, mode) == before

    # Deleted by someone else (here: the writer on a connection of its own): neither answers from memory.
    with psycopg.connect(conninfo) as conn:
        assert delete_book(conn, book_id)
    for service in replicas:
        with pytest.raises(NotFound):
            _search(service, book_id, mode)

    # Reloaded under the same id with other text and other vectors: both serve the new book.
    changed = textbook_parsed("Seen everywhere, again")
    changed.atoms[2] = type(changed.atoms[2])(changed.atoms[2].node_key, 2, 6,
                                             "Mitochondria convert energy for the cell, again and again.")
    vectors = EMBEDDER.embed([a.text for a in changed.atoms])
    vectors[2] = numpy.roll(vectors[2], 1)  # a vector the old block could not have
    load(conninfo, changed, book_id=book_id, embeddings=vectors)
    for service in replicas:
        texts = _search(service, book_id, mode)
        assert texts and all(text in {a.text for a in changed.atoms} for text in texts)
        hits = service.search(SearchQuery(book_ids=[book_id], vector=vectors[2].tolist(), top_k=1,
                                          mode=SearchMode.VECTOR))
        assert [h.atom.ordinal for h in hits] == [2]


def test_a_library_wide_search_finds_a_book_its_catalogue_has_not_heard_of(stack: Stack, conninfo: str) -> None:
    # Library-wide text search reads every book's posting lists, so it meets a book loaded after the
    # catalogue was read (its notification still in flight): it re-reads the catalogue and serves it.
    word = f"wallaby{uuid.uuid4().hex[:8]}"
    query = SearchQuery(book_ids=[], text=word, top_k=5, mode=SearchMode.TEXT)
    with use_cases(stack, listen=False, catalogue_ttl_seconds=3600) as service:
        assert service.search(query) == []  # the catalogue is read now, and not again on its own
        parsed = textbook_parsed("Heard of late")
        parsed.atoms[0] = type(parsed.atoms[0])(parsed.atoms[0].node_key, 0, 1, f"The {word} grazes at dusk.")
        book_id = load(conninfo, parsed)
        hits = service.search(query)
    assert [(hit.atom.book_id, hit.atom.ordinal) for hit in hits] == [(book_id, 0)]
