"""Reading a book (grounding API): a node's subtree page by page, nodes with their lineage, batch
gets across books and the window around an atom, over gRPC and as JSON through Envoy."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from content_svc.contract import ParsedAtom
from devstack import Stack
from teaching.content.v1 import content_service_pb2 as pb
from tests.content.support import (
    TEXTBOOK_ATOMS,
    Textbook,
    load,
    read_pages,
    textbook_parsed,
)
from tests.envoy.web import http_request
from tests.status import expect_error, field_violations

Metadata = list[tuple[str, str]]
PART_1, CHAPTER_1, MEMBRANES, ORGANELLES, CHAPTER_2, PART_2, CHAPTER_3 = 10, 11, 12, 13, 14, 20, 21


@pytest.fixture(scope="module")
def other_book(conninfo: str) -> Textbook:
    """A second book, for batch gets across books and foreign ids."""
    book = textbook_parsed("Biology Again")
    return Textbook(book_id=load(conninfo, book), book=book)


def ordinals(atoms: list[pb.ContentAtom]) -> list[int]:
    return [a.ordinal for a in atoms]


# --- reading a node ------------------------------------------------------------------------------


@pytest.mark.parametrize(("node", "expected"), [
    pytest.param(None, list(range(9)), id="whole-book"),
    pytest.param(PART_1, [0, 1, 2, 3, 4, 5], id="part-with-chapters-and-sections"),
    pytest.param(CHAPTER_1, [0, 1, 2, 3], id="chapter-with-sections"),
    pytest.param(ORGANELLES, [2, 3], id="leaf-section"),
    pytest.param(CHAPTER_3, [6, 7, 8], id="last-chapter"),
])
def test_a_node_reads_back_page_by_page_in_reading_order(
    content_stub: Any, teacher: Metadata, textbook: Textbook, node: int | None, expected: list[int]
) -> None:
    pages = read_pages(content_stub, teacher, str(textbook.book_id), textbook.node_id(node) if node else "")
    assert all(len(page) == 2 for page in pages[:-1]) and 1 <= len(pages[-1]) <= 2
    atoms = [atom for page in pages for atom in page]
    assert ordinals(atoms) == expected
    nodes = {n.key: n for n in textbook.book.nodes}
    for atom in atoms:
        node_key, page_number, text = TEXTBOOK_ATOMS[atom.ordinal]
        assert (atom.page_number, atom.text, atom.node_id) == (page_number, text, textbook.node_id(node_key))
        assert atom.atom_id == textbook.atom_id(atom.ordinal) and atom.book_id == str(textbook.book_id)
        assert atom.node_path[-1] == nodes[node_key].title and len(atom.node_path) == nodes[node_key].level


def test_reading_order_is_page_then_position(conninfo: str, content_stub: Any, teacher: Metadata) -> None:
    """Atoms whose ordinals disagree with their pages are read by page first."""
    book = textbook_parsed("Out of order")
    shuffled = [ParsedAtom(node_key=12, ordinal=0, page_number=4, text="read third"),
                ParsedAtom(node_key=12, ordinal=1, page_number=2, text="read first"),
                ParsedAtom(node_key=12, ordinal=2, page_number=2, text="read second")]
    book_id = load(conninfo, dataclasses.replace(book, atoms=shuffled))
    atoms = [a for page in read_pages(content_stub, teacher, str(book_id)) for a in page]
    assert [a.text for a in atoms] == ["read first", "read second", "read third"]


def test_default_page_size_reads_a_small_book_in_one_page(
    content_stub: Any, teacher: Metadata, textbook: Textbook
) -> None:
    response = content_stub.ListContentAtoms(pb.ListContentAtomsRequest(book_id=str(textbook.book_id)),
                                             metadata=teacher)
    assert ordinals(list(response.atoms)) == list(range(9)) and response.next_page_token == ""


def test_a_page_token_is_bound_to_its_node(content_stub: Any, teacher: Metadata, textbook: Textbook) -> None:
    first = content_stub.ListContentAtoms(pb.ListContentAtomsRequest(
        book_id=str(textbook.book_id), node_id=textbook.node_id(PART_1), page_size=1), metadata=teacher)
    error = expect_error(grpc.StatusCode.INVALID_ARGUMENT, content_stub.ListContentAtoms, pb.ListContentAtomsRequest(
        book_id=str(textbook.book_id), node_id=textbook.node_id(PART_2), page_token=first.next_page_token),
        metadata=teacher)
    assert "page_token" in field_violations(error)


@pytest.mark.parametrize(("request_fields", "code", "field"), [
    pytest.param({"book_id": ""}, grpc.StatusCode.INVALID_ARGUMENT, "book_id", id="no-book"),
    pytest.param({"node_id": "chapter-1"}, grpc.StatusCode.INVALID_ARGUMENT, "node_id", id="node-not-a-uuid"),
    pytest.param({"page_size": -1}, grpc.StatusCode.INVALID_ARGUMENT, "page_size", id="negative-page-size"),
    pytest.param({"page_token": "forged"}, grpc.StatusCode.INVALID_ARGUMENT, "page_token", id="forged-token"),
    pytest.param({"book_id": str(uuid.uuid4())}, grpc.StatusCode.NOT_FOUND, None, id="unknown-book"),
    pytest.param({"node_id": str(uuid.uuid4())}, grpc.StatusCode.NOT_FOUND, None, id="unknown-node"),
])
def test_list_atoms_refuses_bad_requests(
    content_stub: Any, teacher: Metadata, textbook: Textbook, request_fields: dict[str, Any],
    code: grpc.StatusCode, field: str | None,
) -> None:
    request = pb.ListContentAtomsRequest(**{"book_id": str(textbook.book_id), **request_fields})
    error = expect_error(code, content_stub.ListContentAtoms, request, metadata=teacher)
    if field is not None:
        assert field in field_violations(error)


def test_a_node_of_another_book_is_not_found(
    content_stub: Any, teacher: Metadata, textbook: Textbook, other_book: Textbook
) -> None:
    expect_error(grpc.StatusCode.NOT_FOUND, content_stub.ListContentAtoms, pb.ListContentAtomsRequest(
        book_id=str(textbook.book_id), node_id=other_book.node_id(CHAPTER_1)), metadata=teacher)


# --- node lookups --------------------------------------------------------------------------------


@pytest.mark.parametrize(("node", "ancestors", "children"), [
    pytest.param(PART_1, [], [CHAPTER_1, CHAPTER_2], id="top-level"),
    pytest.param(CHAPTER_1, [PART_1], [MEMBRANES, ORGANELLES], id="middle"),
    pytest.param(ORGANELLES, [PART_1, CHAPTER_1], [], id="leaf"),
])
def test_get_node_has_its_path_from_the_root_and_its_children(
    content_stub: Any, teacher: Metadata, textbook: Textbook, node: int, ancestors: list[int], children: list[int]
) -> None:
    response = content_stub.GetStructureNode(pb.GetStructureNodeRequest(
        book_id=str(textbook.book_id), node_id=textbook.node_id(node)), metadata=teacher)
    assert response.node.node_id == textbook.node_id(node)
    assert [n.node_id for n in response.ancestors] == [textbook.node_id(k) for k in ancestors]
    assert [n.node_id for n in response.children] == [textbook.node_id(k) for k in children]
    assert [n.ordinal for n in response.children] == list(range(len(children)))
    assert all(c.parent_node_id == response.node.node_id for c in response.children)


@pytest.mark.parametrize(("book", "node", "code"), [
    pytest.param("textbook", "missing", grpc.StatusCode.NOT_FOUND, id="unknown-node"),
    pytest.param("missing", "chapter", grpc.StatusCode.NOT_FOUND, id="unknown-book"),
    pytest.param("other", "chapter", grpc.StatusCode.NOT_FOUND, id="node-of-another-book"),
    pytest.param("textbook", "", grpc.StatusCode.INVALID_ARGUMENT, id="no-node-id"),
])
def test_get_node_refuses_unknown_nodes(
    content_stub: Any, teacher: Metadata, textbook: Textbook, other_book: Textbook, book: str, node: str,
    code: grpc.StatusCode,
) -> None:
    book_id = {"textbook": str(textbook.book_id), "other": str(other_book.book_id), "missing": str(uuid.uuid4())}
    node_id = {"missing": str(uuid.uuid4()), "chapter": textbook.node_id(CHAPTER_1), "": ""}
    error = expect_error(code, content_stub.GetStructureNode, pb.GetStructureNodeRequest(
        book_id=book_id[book], node_id=node_id[node]), metadata=teacher)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        assert "node_id" in field_violations(error)


# --- batch gets ----------------------------------------------------------------------------------


def test_batch_get_atoms_across_books_reports_missing_and_foreign_ids(
    content_stub: Any, teacher: Metadata, textbook: Textbook, other_book: Textbook
) -> None:
    here, there = str(textbook.book_id), str(other_book.book_id)
    missing_atom = pb.GetContentAtomRequest(book_id=here, atom_id=str(uuid.uuid4()))
    # An atom id of the other book, asked for under this one.
    foreign_atom = pb.GetContentAtomRequest(book_id=here, atom_id=other_book.atom_id(3))
    missing_book = pb.GetContentAtomRequest(book_id=str(uuid.uuid4()), atom_id=textbook.atom_id(0))
    requests = [
        pb.GetContentAtomRequest(book_id=here, atom_id=textbook.atom_id(5)),
        missing_atom,
        pb.GetContentAtomRequest(book_id=there, atom_id=other_book.atom_id(1)),
        foreign_atom,
        pb.GetContentAtomRequest(book_id=here, atom_id=textbook.atom_id(0)),
        missing_book,
        pb.GetContentAtomRequest(book_id=here, atom_id=textbook.atom_id(5)),
    ]
    response = content_stub.BatchGetContentAtoms(pb.BatchGetContentAtomsRequest(requests=requests),
                                                 metadata=teacher)
    assert [(a.book_id, a.atom_id) for a in response.atoms] == [
        (here, textbook.atom_id(5)), (there, other_book.atom_id(1)), (here, textbook.atom_id(0)),
        (here, textbook.atom_id(5)),
    ]
    assert response.atoms[0].text == TEXTBOOK_ATOMS[5][2] and list(response.atoms[0].node_path) == [
        "Part I Foundations", "Chapter 2 Energy"]
    assert list(response.missing) == [missing_atom, foreign_atom, missing_book]


@pytest.mark.parametrize(("count", "bad", "field"), [
    pytest.param(0, None, "requests", id="empty"),
    pytest.param(101, None, "requests", id="over-the-limit"),
    pytest.param(3, "book_id", "requests[1].book_id", id="bad-book-id"),
    pytest.param(3, "atom_id", "requests[1].atom_id", id="bad-atom-id"),
])
def test_batch_get_atoms_refuses_bad_batches(
    content_stub: Any, teacher: Metadata, textbook: Textbook, count: int, bad: str | None, field: str
) -> None:
    requests = [pb.GetContentAtomRequest(book_id=str(textbook.book_id), atom_id=textbook.atom_id(i % 9))
                for i in range(count)]
    if bad is not None:
        setattr(requests[1], bad, "not-a-uuid")
    error = expect_error(grpc.StatusCode.INVALID_ARGUMENT, content_stub.BatchGetContentAtoms,
                         pb.BatchGetContentAtomsRequest(requests=requests), metadata=teacher)
    assert field in field_violations(error)


def test_a_full_batch_of_100_is_served(content_stub: Any, teacher: Metadata, textbook: Textbook) -> None:
    requests = [pb.GetContentAtomRequest(book_id=str(textbook.book_id), atom_id=textbook.atom_id(i % 9))
                for i in range(100)]
    response = content_stub.BatchGetContentAtoms(pb.BatchGetContentAtomsRequest(requests=requests),
                                                 metadata=teacher)
    assert ordinals(list(response.atoms)) == [i % 9 for i in range(100)] and not response.missing


def test_batch_get_books_reports_missing_ids(
    content_stub: Any, teacher: Metadata, textbook: Textbook, other_book: Textbook
) -> None:
    unknown = str(uuid.uuid4())
    response = content_stub.BatchGetBooks(pb.BatchGetBooksRequest(
        book_ids=[str(other_book.book_id), unknown, str(textbook.book_id)]), metadata=teacher)
    assert [(b.book_id, b.title) for b in response.books] == [
        (str(other_book.book_id), "Biology Again"), (str(textbook.book_id), "Biology Basics")]
    assert list(response.missing_book_ids) == [unknown]


@pytest.mark.parametrize(("book_ids", "field"), [
    pytest.param([], "book_ids", id="empty"),
    pytest.param([str(uuid.uuid4())] * 101, "book_ids", id="over-the-limit"),
    pytest.param([str(uuid.uuid4()), "x"], "book_ids[1]", id="not-a-uuid"),
])
def test_batch_get_books_refuses_bad_batches(
    content_stub: Any, teacher: Metadata, book_ids: list[str], field: str
) -> None:
    error = expect_error(grpc.StatusCode.INVALID_ARGUMENT, content_stub.BatchGetBooks,
                         pb.BatchGetBooksRequest(book_ids=book_ids), metadata=teacher)
    assert field in field_violations(error)


# --- context around an atom ----------------------------------------------------------------------


@pytest.mark.parametrize(("ordinal", "radius", "before", "after"), [
    pytest.param(0, 2, [], [1, 2], id="start-of-book"),
    pytest.param(1, 3, [0], [2, 3, 4], id="near-the-start"),
    pytest.param(4, 0, [1, 2, 3], [5, 6, 7], id="middle-default-radius"),
    pytest.param(8, 2, [6, 7], [], id="end-of-book"),
    pytest.param(5, 50, [0, 1, 2, 3, 4], [6, 7, 8], id="window-larger-than-the-book"),
])
def test_context_around_an_atom_stays_within_its_book_in_order(
    content_stub: Any, teacher: Metadata, textbook: Textbook, other_book: Textbook, ordinal: int, radius: int,
    before: list[int], after: list[int],
) -> None:
    response = content_stub.GetContentAtomContext(pb.GetContentAtomContextRequest(
        book_id=str(textbook.book_id), atom_id=textbook.atom_id(ordinal), radius=radius), metadata=teacher)
    assert response.atom.ordinal == ordinal
    assert ordinals(list(response.before)) == before and ordinals(list(response.after)) == after
    assert {a.book_id for a in [*response.before, *response.after]} <= {str(textbook.book_id)}
    assert all(a.node_path for a in [*response.before, *response.after])


@pytest.mark.parametrize(("radius", "atom", "code"), [
    pytest.param(-1, "known", grpc.StatusCode.INVALID_ARGUMENT, id="negative-radius"),
    pytest.param(51, "known", grpc.StatusCode.INVALID_ARGUMENT, id="radius-over-the-limit"),
    pytest.param(1, "unknown", grpc.StatusCode.NOT_FOUND, id="unknown-atom"),
])
def test_context_refuses_bad_requests(
    content_stub: Any, teacher: Metadata, textbook: Textbook, radius: int, atom: str, code: grpc.StatusCode
) -> None:
    atom_id = textbook.atom_id(0) if atom == "known" else str(uuid.uuid4())
    error = expect_error(code, content_stub.GetContentAtomContext, pb.GetContentAtomContextRequest(
        book_id=str(textbook.book_id), atom_id=atom_id, radius=radius), metadata=teacher)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        assert "radius" in field_violations(error)


@pytest.mark.parametrize("rpc", ["ListContentAtoms", "GetStructureNode", "BatchGetContentAtoms",
                                 "GetContentAtomContext", "BatchGetBooks"])
def test_reading_needs_a_caller(content_stub: Any, rpc: str) -> None:
    request_type = getattr(pb, f"{rpc}Request")
    expect_error(grpc.StatusCode.UNAUTHENTICATED, getattr(content_stub, rpc), request_type())


# --- the JSON routes through Envoy ---------------------------------------------------------------


@pytest.fixture
def json_call(stack: Stack, make_token: Callable[..., str]) -> Callable[..., Any]:
    token = make_token(f"web-{uuid.uuid4().hex[:8]}", "teacher")

    def call(method: str, path: str, body: Any = None) -> Any:
        reply = http_request(stack.address("envoy"), method, path, body=body, token=token)
        assert reply.status == 200, (method, path, reply.status, reply.body)
        return reply.json()

    return call


def test_reading_routes_through_envoy(json_call: Callable[..., Any], textbook: Textbook, other_book: Textbook) -> None:
    book = str(textbook.book_id)
    first = json_call("GET", f"/v1/books/{book}/atoms?nodeId={textbook.node_id(CHAPTER_1)}&pageSize=3")
    assert [a["ordinal"] for a in first["atoms"]] == [0, 1, 2] and first["atoms"][0]["pageNumber"] == 1
    rest = json_call("GET", f"/v1/books/{book}/atoms?nodeId={textbook.node_id(CHAPTER_1)}&pageSize=3"
                           f"&pageToken={first['nextPageToken']}")
    assert [a["ordinal"] for a in rest["atoms"]] == [3] and not rest.get("nextPageToken")
    node = json_call("GET", f"/v1/books/{book}/nodes/{textbook.node_id(ORGANELLES)}")
    assert [n["title"] for n in node["ancestors"]] == ["Part I Foundations", "Chapter 1 Cells"]
    window = json_call("GET", f"/v1/books/{book}/atoms/{textbook.atom_id(8)}:context?radius=1")
    assert [a["ordinal"] for a in window["before"]] == [7] and not window.get("after")
    unknown = str(uuid.uuid4())
    batch = json_call("POST", "/v1/books/-/atoms:batchGet", {"requests": [
        {"bookId": book, "atomId": textbook.atom_id(2)}, {"bookId": book, "atomId": unknown}]})
    assert [a["atomId"] for a in batch["atoms"]] == [textbook.atom_id(2)]
    assert batch["missing"] == [{"bookId": book, "atomId": unknown}]
    books = json_call("GET", f"/v1/books:batchGet?bookIds={other_book.book_id}&bookIds={unknown}")
    assert [b["bookId"] for b in books["books"]] == [str(other_book.book_id)] and books["missingBookIds"] == [unknown]
