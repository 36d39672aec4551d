"""Reading thinkpython2 back through the grounding API: a chapter page by page is in reading order,
complete (it holds every atom a search restricted to the chapter finds, and exactly the chapter's atoms
of the whole book read in order), and context windows stop at the book's ends."""

from __future__ import annotations

import re
from typing import Any

import pytest

from teaching.content.v1 import content_service_pb2 as pb
from tests.content.support import read_pages

Metadata = list[tuple[str, str]]
CHAPTER = "Lists"


@pytest.fixture(scope="module")
def outline(content_stub: Any, thinkpython_book_id: str, auth: Any) -> list[pb.StructureNode]:
    response = content_stub.GetBookOutline(pb.GetBookOutlineRequest(book_id=thinkpython_book_id),
                                           metadata=auth("outline-reader", "teacher"))
    return list(response.nodes)


@pytest.fixture(scope="module")
def chapter(outline: list[pb.StructureNode]) -> pb.StructureNode:
    return next(n for n in outline if n.title == CHAPTER and n.level == 1)


@pytest.fixture(scope="module")
def whole_book(content_stub: Any, thinkpython_book_id: str, auth: Any) -> list[pb.ContentAtom]:
    pages = read_pages(content_stub, auth("book-reader", "teacher"), thinkpython_book_id, "", page_size=200)
    return [atom for page in pages for atom in page]


def subtree_ids(outline: list[pb.StructureNode], root: pb.StructureNode) -> set[str]:
    """The node and its descendants, from the outline's parent links."""
    ids = {root.node_id}
    for node in outline:  # pre-order: a parent comes before its children
        if node.parent_node_id in ids:
            ids.add(node.node_id)
    return ids


def test_a_chapter_reads_back_page_by_page_in_reading_order(
    content_stub: Any, reader: Metadata, thinkpython_book_id: str, outline: list[pb.StructureNode],
    chapter: pb.StructureNode, whole_book: list[pb.ContentAtom],
) -> None:
    pages = read_pages(content_stub, reader, thinkpython_book_id, chapter.node_id, page_size=10)
    atoms = [atom for page in pages for atom in page]
    assert len(pages) >= 3 and all(len(page) == 10 for page in pages[:-1])
    positions = [(a.page_number, a.ordinal) for a in atoms]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert {a.page_number for a in atoms} <= set(range(chapter.first_page, chapter.last_page + 1))
    assert len({a.page_number for a in atoms}) >= 8  # the chapter's pages, not just its first one
    inside = subtree_ids(outline, chapter)
    titles = {n.node_id: n.title for n in outline}
    for atom in atoms:
        assert atom.node_id in inside and atom.node_path[0] == CHAPTER
        assert atom.node_path[-1] == titles[atom.node_id]
    # Exactly the chapter's atoms of the whole book read in order: nothing missing, nothing extra.
    assert [a.atom_id for a in whole_book if a.node_id in inside] == [a.atom_id for a in atoms]
    book_positions = [(a.page_number, a.ordinal) for a in whole_book]
    assert book_positions == sorted(book_positions)


@pytest.mark.parametrize("mode", [pb.SEARCH_MODE_TEXT, pb.SEARCH_MODE_VECTOR, pb.SEARCH_MODE_HYBRID],
                         ids=["text", "vector", "hybrid"])
@pytest.mark.parametrize("query", [
    "list methods append extend and sort",
    "a list is a sequence of values called elements",
    "aliasing: two variables refer to the same object",
    "map filter and reduce",
])
def test_every_search_hit_in_the_chapter_is_read_back(
    content_stub: Any, reader: Metadata, thinkpython_book_id: str, chapter: pb.StructureNode, mode: int,
    query: str,
) -> None:
    read_back = {a.atom_id for page in read_pages(content_stub, reader, thinkpython_book_id, chapter.node_id, 50)
                 for a in page}
    hits = content_stub.SearchContent(pb.SearchContentRequest(
        query=query, book_ids=[thinkpython_book_id], node_id=chapter.node_id, top_k=100, mode=mode),
        metadata=reader).results
    assert hits
    assert {hit.atom_id for hit in hits} <= read_back


@pytest.mark.parametrize(("index", "before", "after"), [
    pytest.param(0, [], [1, 2, 3, 4, 5], id="first-atom"),
    pytest.param(1, [0], [2, 3, 4, 5, 6], id="second-atom"),
    pytest.param(-2, [-7, -6, -5, -4, -3], [-1], id="last-but-one-atom"),
    pytest.param(-1, [-6, -5, -4, -3, -2], [], id="last-atom"),
])
def test_context_windows_stop_at_the_ends_of_the_book(
    content_stub: Any, reader: Metadata, thinkpython_book_id: str, whole_book: list[pb.ContentAtom], index: int,
    before: list[int], after: list[int],
) -> None:
    window = content_stub.GetContentAtomContext(pb.GetContentAtomContextRequest(
        book_id=thinkpython_book_id, atom_id=whole_book[index].atom_id, radius=5), metadata=reader)
    assert window.atom == whole_book[index]
    assert list(window.before) == [whole_book[i] for i in before]
    assert list(window.after) == [whole_book[i] for i in after]


# thinkpython2's outline points one page early for these sections: their headings are on the next page.
HEADINGS_A_PAGE_LATE = [("Order of operations", "2.5. Order of operations"), ("Aliasing", "10.11. Aliasing"),
                        ("Glossary", "B.5. Glossary")]


@pytest.mark.parametrize(("title", "heading"), HEADINGS_A_PAGE_LATE, ids=[t for t, _ in HEADINGS_A_PAGE_LATE])
def test_no_passage_straddles_a_section_boundary(
    outline: list[pb.StructureNode], whole_book: list[pb.ContentAtom], title: str, heading: str
) -> None:
    section = [n for n in outline if n.title == title and n.level == 2][-1 if title == "Glossary" else 0]
    atoms = [a for a in whole_book if a.node_id == section.node_id]
    assert atoms and atoms[0].text.startswith(heading), atoms[0].text[:200] if atoms else "no atoms"
    # The heading as a line of its own (running heads carry a page number; the contents, dot leaders).
    line = re.compile(rf"^{re.escape(heading)}$", re.MULTILINE)
    others = [a.node_path for a in whole_book if line.search(a.text) and a.node_id != section.node_id]
    assert others == []
