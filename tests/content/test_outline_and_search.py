"""Outline, search (modes, subtree, breadcrumbs), atoms and their errors, through gRPC."""

from __future__ import annotations

import uuid
from typing import Any, cast

import grpc
import pytest

from content_svc.contract import ParsedAtom, ParsedBook, ParsedNode
from content_svc.embedding import HashingEmbedder
from content_svc.rules.library import node_uuid
from teaching.content.v1 import content_service_pb2 as pb
from tests.content.support import Textbook, load, unique_sha
from tests.status import expect_error, field_violations


def test_outline_is_preorder_with_page_ranges(content_stub, teacher, textbook: Textbook):
    outline = content_stub.GetBookOutline(pb.GetBookOutlineRequest(book_id=str(textbook.book_id)), metadata=teacher)
    assert outline.book_id == str(textbook.book_id)
    got = [(n.title, n.level, n.ordinal, n.first_page, n.last_page) for n in outline.nodes]
    assert got == [
        ("Part I Foundations", 1, 0, 1, 20),
        ("Chapter 1 Cells", 2, 0, 1, 10),
        ("1.1 Membranes", 3, 0, 1, 5),
        ("1.2 Organelles", 3, 1, 6, 10),
        ("Chapter 2 Energy", 2, 1, 11, 20),
        ("Part II Ecology", 1, 1, 21, 40),
        ("Chapter 3 Populations", 2, 0, 21, 40),
    ]
    by_title = {n.title: n for n in outline.nodes}
    assert by_title["Part I Foundations"].parent_node_id == ""
    assert by_title["1.2 Organelles"].parent_node_id == by_title["Chapter 1 Cells"].node_id
    assert by_title["Chapter 3 Populations"].parent_node_id == by_title["Part II Ecology"].node_id


def test_search_results_carry_breadcrumbs_and_fields(content_stub, teacher, textbook: Textbook):
    response = content_stub.SearchContent(
        pb.SearchContentRequest(query="mitochondria organelles energy", book_ids=[str(textbook.book_id)], top_k=3),
        metadata=teacher,
    )
    top = response.results[0]
    assert "Mitochondria" in top.text
    assert list(top.node_path) == ["Part I Foundations", "Chapter 1 Cells", "1.2 Organelles"]
    assert top.book_id == str(textbook.book_id)
    assert top.node_id == textbook.node_id(13)
    assert top.page_number == 6
    scores = [r.score for r in response.results]
    assert scores == sorted(scores, reverse=True)

    atom = content_stub.GetContentAtom(
        pb.GetContentAtomRequest(book_id=top.book_id, atom_id=top.atom_id), metadata=teacher
    ).atom
    assert (atom.text, atom.ordinal, atom.page_number, list(atom.node_path)) == (
        top.text, 2, 6, list(top.node_path)
    )


@pytest.mark.parametrize("mode", [pb.SEARCH_MODE_VECTOR, pb.SEARCH_MODE_TEXT, pb.SEARCH_MODE_HYBRID])
def test_node_filter_means_the_whole_subtree(content_stub, teacher, textbook: Textbook, mode):
    chapter_1 = textbook.node_id(11)
    response = content_stub.SearchContent(
        pb.SearchContentRequest(query="energy cell membrane glucose population", book_ids=[str(textbook.book_id)],
                                node_id=chapter_1, top_k=100, mode=mode),
        metadata=teacher,
    )
    inside = {textbook.node_id(k) for k in (11, 12, 13)}
    assert response.results, "the subtree has matching atoms"
    assert {r.node_id for r in response.results} <= inside
    if mode != pb.SEARCH_MODE_TEXT:  # vector ranking scores every atom of the subtree
        assert len(response.results) == 4
        assert {r.node_id for r in response.results} == {textbook.node_id(12), textbook.node_id(13)}


def test_top_k_limits_and_defaults(content_stub, teacher, textbook: Textbook):
    request = pb.SearchContentRequest(query="cell energy", book_ids=[str(textbook.book_id)],
                                      mode=pb.SEARCH_MODE_VECTOR)
    assert len(content_stub.SearchContent(request, metadata=teacher).results) == 9  # default 10, book has 9
    request.top_k = 2
    assert len(content_stub.SearchContent(request, metadata=teacher).results) == 2


def test_hybrid_finds_exact_term_passages_that_vector_search_ranks_low(conninfo, content_stub, teacher):
    filler = [
        f"Flowering plants: the flower petals of the flower, flower colour and flower petals in garden {i}."
        for i in range(40)
    ]
    needle = ("Orchids and snapdragons are zygomorphic: a single plane of symmetry divides them, "
              "unlike radially symmetric daisies, lilies and tulips seen in many meadows.")
    texts = [*filler[:20], needle, *filler[20:]]
    book = ParsedBook(
        title="Botany", authors=["C. Botanist"], subject="biology", grade_level="10", page_count=41,
        content_sha256=unique_sha(),
        nodes=[ParsedNode(key=1, parent_key=None, level=1, ordinal=0, title="Flowers", first_page=1, last_page=41)],
        atoms=[ParsedAtom(node_key=1, ordinal=i, page_number=i + 1, text=t) for i, t in enumerate(texts)],
    )
    book_id = str(load(conninfo, book))
    query = "zygomorphic flower petals"

    def rank(mode: Any) -> int | None:
        results = content_stub.SearchContent(
            pb.SearchContentRequest(query=query, book_ids=[book_id], top_k=41, mode=mode), metadata=teacher
        ).results
        texts_ranked = [r.text for r in results]
        return texts_ranked.index(needle) if needle in texts_ranked else None

    vector_rank = rank(pb.SEARCH_MODE_VECTOR)
    assert vector_rank is None or vector_rank >= 10, f"vector search alone ranks the needle at {vector_rank}"
    assert rank(pb.SEARCH_MODE_TEXT) == 0
    hybrid_rank = rank(pb.SEARCH_MODE_HYBRID)
    assert hybrid_rank is not None and hybrid_rank < 3, f"hybrid ranks the needle at {hybrid_rank}"
    # The default mode is hybrid.
    default = content_stub.SearchContent(
        pb.SearchContentRequest(query=query, book_ids=[book_id], top_k=3), metadata=teacher
    ).results
    assert needle in [r.text for r in default]


def test_search_across_several_books_and_raw_vectors(conninfo, content_stub, teacher, textbook: Textbook):
    other = load(conninfo, _one_node_book(["Glucose is a sugar made by photosynthesis in leaves."]))
    response = content_stub.SearchContent(
        pb.SearchContentRequest(query="glucose photosynthesis", book_ids=[str(textbook.book_id), str(other)],
                                top_k=10),
        metadata=teacher,
    )
    assert {r.book_id for r in response.results} == {str(textbook.book_id), str(other)}

    vector = HashingEmbedder(384).embed(["carrying capacity population environment"])[0]
    response = content_stub.SearchContent(
        pb.SearchContentRequest(query_vector=vector.tolist(), book_ids=[str(textbook.book_id)], top_k=1),
        metadata=teacher,
    )
    assert "Carrying capacity" in response.results[0].text


@pytest.mark.parametrize("mode", [pb.SEARCH_MODE_TEXT, pb.SEARCH_MODE_HYBRID, pb.SEARCH_MODE_VECTOR])
def test_no_book_ids_searches_every_ready_book(conninfo, content_stub, teacher, admin, mode):
    word = f"quokka{uuid.uuid4().hex[:8]}"
    first = str(load(conninfo, _one_node_book([f"The {word} hops across the island at dawn."])))
    second = str(load(conninfo, _one_node_book([f"Every {word} sleeps in the shade at noon."])))

    def found() -> set[str]:
        results = content_stub.SearchContent(
            pb.SearchContentRequest(query=f"{word} island shade", top_k=100, mode=mode), metadata=teacher
        ).results
        return {r.book_id for r in results if word in r.text}

    assert found() == {first, second}
    content_stub.DeleteBook(pb.DeleteBookRequest(book_id=first), metadata=admin)
    assert found() == {second}
    third = str(load(conninfo, _one_node_book([f"A {word} island, seen from the sea."])))
    assert found() == {second, third}  # searchable as soon as it is loaded


def _one_node_book(texts: list[str], title: str = "One node") -> ParsedBook:
    return ParsedBook(
        title=title, authors=[], subject="", grade_level="", page_count=len(texts), content_sha256=unique_sha(),
        nodes=[ParsedNode(key=0, parent_key=None, level=1, ordinal=0, title=title, first_page=1,
                          last_page=max(1, len(texts)))],
        atoms=[ParsedAtom(node_key=0, ordinal=i, page_number=i + 1, text=t) for i, t in enumerate(texts)],
    )


# Each case: the request's fields (book_ids=["BOOK"] stands for the textbook's id) and the field named.
SEARCH_INPUT_ERRORS = [
    pytest.param({"book_ids": ["BOOK"]}, "query", id="no-query"),
    pytest.param({"query": "cells", "book_ids": [str(uuid.UUID(int=i)) for i in range(101)]}, "book_ids",
                 id="more-than-100-books-listed"),
    pytest.param({"query": "cells", "book_ids": ["not-a-uuid"]}, "book_ids[0]", id="book-id-not-uuid"),
    pytest.param({"query": "cells", "book_ids": ["BOOK"], "top_k": 101}, "top_k", id="top-k-too-large"),
    pytest.param({"query": "cells", "book_ids": ["BOOK"], "top_k": -1}, "top_k", id="top-k-negative"),
    pytest.param({"query_vector": [0.1] * 5, "book_ids": ["BOOK"]}, "query_vector", id="vector-wrong-dimension"),
    pytest.param({"query": "cells", "book_ids": ["BOOK"], "node_id": "nope"}, "node_id", id="node-id-not-uuid"),
    pytest.param({"query_vector": [0.1] * 384, "book_ids": ["BOOK"], "mode": pb.SEARCH_MODE_TEXT}, "query",
                 id="text-mode-without-text"),
    pytest.param({"query": "cells", "book_ids": ["BOOK"], "mode": cast(Any, 7)}, "mode", id="unknown-mode"),
]


@pytest.mark.parametrize(("fields", "field"), SEARCH_INPUT_ERRORS)
def test_search_input_errors_name_the_field(content_stub, teacher, textbook: Textbook, fields, field):
    book_ids = [str(textbook.book_id) if b == "BOOK" else b for b in fields.get("book_ids", [])]
    request = pb.SearchContentRequest(**{**fields, "book_ids": book_ids})
    error = expect_error(grpc.StatusCode.INVALID_ARGUMENT, content_stub.SearchContent, request, metadata=teacher)
    assert field in field_violations(error), field_violations(error)


def test_unknown_ids_are_not_found(content_stub, teacher, textbook: Textbook):
    missing = str(uuid.uuid4())
    expect_error(grpc.StatusCode.NOT_FOUND, content_stub.GetBookOutline,
                 pb.GetBookOutlineRequest(book_id=missing), metadata=teacher)
    expect_error(grpc.StatusCode.NOT_FOUND, content_stub.SearchContent,
                 pb.SearchContentRequest(query="cells", book_ids=[missing]), metadata=teacher)
    expect_error(grpc.StatusCode.NOT_FOUND, content_stub.SearchContent,
                 pb.SearchContentRequest(query="cells", book_ids=[str(textbook.book_id)], node_id=missing),
                 metadata=teacher)
    expect_error(grpc.StatusCode.NOT_FOUND, content_stub.GetContentAtom,
                 pb.GetContentAtomRequest(book_id=str(textbook.book_id), atom_id=missing), metadata=teacher)
    # An atom id that exists, asked for under another book.
    expect_error(grpc.StatusCode.NOT_FOUND, content_stub.GetContentAtom,
                 pb.GetContentAtomRequest(book_id=missing, atom_id=textbook.atom_id(0)), metadata=teacher)
    error = expect_error(grpc.StatusCode.INVALID_ARGUMENT, content_stub.GetContentAtom,
                         pb.GetContentAtomRequest(book_id=str(textbook.book_id), atom_id="x"), metadata=teacher)
    assert "atom_id" in field_violations(error)


def test_calls_need_a_token(content_stub, textbook: Textbook):
    expect_error(grpc.StatusCode.UNAUTHENTICATED, content_stub.GetBookOutline,
                 pb.GetBookOutlineRequest(book_id=str(textbook.book_id)))


def test_books_from_another_embedder_are_reported_not_mixed(conninfo, content_stub, teacher, textbook: Textbook):
    small = HashingEmbedder(64)
    other = str(load(conninfo, _one_node_book(["Cells divide by mitosis."], "Small vectors"), embedder=small))
    # A text query is embedded with the service's 384-dimensional embedder: refused, clearly.
    error = expect_error(grpc.StatusCode.FAILED_PRECONDITION, content_stub.SearchContent,
                         pb.SearchContentRequest(query="mitosis", book_ids=[other]), metadata=teacher)
    details = error.details() or ""
    assert "64" in details and "384" in details
    # Two books with different embedders in one vector ranking: refused.
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, content_stub.SearchContent,
                 pb.SearchContentRequest(query="mitosis", book_ids=[other, str(textbook.book_id)]),
                 metadata=teacher)
    # Text-only search does not involve vectors, and a raw vector of the book's dimension works.
    text = content_stub.SearchContent(
        pb.SearchContentRequest(query="mitosis", book_ids=[other], mode=pb.SEARCH_MODE_TEXT), metadata=teacher
    )
    assert [r.text for r in text.results] == ["Cells divide by mitosis."]
    raw = content_stub.SearchContent(
        pb.SearchContentRequest(query_vector=small.embed(["mitosis"])[0].tolist(), book_ids=[other]),
        metadata=teacher,
    )
    assert len(raw.results) == 1


def test_outline_node_ids_match_the_loader(textbook: Textbook, content_stub, teacher):
    outline = content_stub.GetBookOutline(pb.GetBookOutlineRequest(book_id=str(textbook.book_id)), metadata=teacher)
    assert [n.node_id for n in outline.nodes] == [str(node_uuid(textbook.book_id, n.key)) for n in textbook.book.nodes]
