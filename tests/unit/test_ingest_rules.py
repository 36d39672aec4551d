"""Ingest rules, pure: outline -> structure nodes, page text -> passages, page ranges, upload checks,
upload metadata."""

from __future__ import annotations

import hashlib
import itertools
import pickle
import uuid
from collections.abc import Callable

import pytest

from common.errors import InvalidArgument, ResourceExhausted
from ingest_svc.rules.jobs import FailureReason, IngestFailed, UploadMetadata
from ingest_svc.rules.passages import (
    MAX_CHARS,
    OVERLAP_CHARS,
    Segment,
    atoms_from_segments,
    chunk_node_text,
    extend_into_shared_pages,
    heading_pages,
    normalise_page_text,
    split_page,
)
from ingest_svc.rules.structure import (
    MAX_OUTLINE_DEPTH,
    MAX_RANGE_PAGES,
    MIN_RANGE_PAGES,
    OutlineEntry,
    nodes_from_outline,
    page_range_nodes,
    plan_page_ranges,
    range_target_pages,
)
from ingest_svc.rules.uploads import StoredFile, UploadChecks, abandoned, job_of_key, storage_key


def test_outline_becomes_tree_with_page_ranges() -> None:
    entries = [
        OutlineEntry(0, "Preface", 4),
        OutlineEntry(0, "Chapter 1", 10),
        OutlineEntry(1, "1.1 Start", 10),
        OutlineEntry(1, "1.2 More", 14),
        OutlineEntry(2, "1.2.1 Deep", 15),
        OutlineEntry(0, "Chapter 2", 20),
    ]
    nodes = nodes_from_outline(entries, 30, front_matter=True)
    summary = [(n.title, n.level, n.parent_key, n.ordinal, n.first_page, n.last_page) for n in nodes]
    assert summary == [
        ("Front matter", 1, None, 0, 1, 4),
        ("Preface", 1, None, 1, 5, 10),
        ("Chapter 1", 1, None, 2, 11, 20),
        ("1.1 Start", 2, 2, 0, 11, 14),
        ("1.2 More", 2, 2, 1, 15, 20),
        ("1.2.1 Deep", 3, 4, 0, 16, 20),
        ("Chapter 2", 1, None, 3, 21, 30),
    ]


def test_malformed_outline_is_tamed() -> None:
    # A jump from depth 0 to 5, a bookmark without target, a page beyond the end, backwards pages.
    entries = [
        OutlineEntry(0, "  A\x00 title  ", 3),
        OutlineEntry(5, "", None),
        OutlineEntry(1, "Beyond", 999),
        OutlineEntry(0, "Backwards", 0),
    ]
    nodes = nodes_from_outline(entries, 10)
    assert [(n.title, n.level, n.parent_key) for n in nodes] == [
        ("A title", 1, None), ("Untitled", 2, 0), ("Beyond", 2, 0), ("Backwards", 1, None)
    ]
    assert all(1 <= n.first_page <= n.last_page <= 10 for n in nodes)


def test_deep_outline_is_capped() -> None:
    entries = [OutlineEntry(depth, f"level {depth}", 0) for depth in range(50)]
    nodes = nodes_from_outline(entries, 3)
    assert max(n.level for n in nodes) == MAX_OUTLINE_DEPTH
    assert all(n.level == (nodes[n.parent_key].level + 1 if n.parent_key is not None else 1) for n in nodes)


def test_page_range_nodes() -> None:
    assert [(n.title, n.first_page, n.last_page) for n in page_range_nodes(2)] == [
        ("Page 1", 1, 1), ("Page 2", 2, 2)
    ]
    big = page_range_nodes(25)
    assert [(n.first_page, n.last_page) for n in big] == [(1, 10), (11, 20), (21, 25)]


def test_page_ranges_cover_the_book_once() -> None:
    nodes = page_range_nodes(288)
    ranges = plan_page_ranges(nodes, 288, 24)
    assert ranges[0][0] == 1 and ranges[-1][1] == 288
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(ranges))
    assert len(ranges) > 4


def test_split_page_cuts_at_titles() -> None:
    entries = [OutlineEntry(0, "Intro", 0), OutlineEntry(0, "Second part", 1)]
    nodes = nodes_from_outline(entries, 3)
    text = "the end of the intro, which is quite long and continues here for a while.\nSecond Part\nnew text"
    segments = split_page(nodes, 2, text)
    assert [(s.node_key, s.text[:11]) for s in segments] == [(0, "the end of "), (1, "Second Part")]
    # A heading's number goes with it.
    numbered = "the end of the intro, which is quite long and continues here for a while.\n1.2. Second part\nnew"
    assert [s.text[:16] for s in split_page(nodes, 2, numbered)] == ["the end of the i", "1.2. Second part"]
    # A short running head before the title belongs to the new node.
    assert [s.node_key for s in split_page(nodes, 2, "Chapter 2\nSecond part\nbody")] == [1]
    assert [s.node_key for s in split_page(nodes, 3, "more of part two")] == [1]


def test_a_heading_one_page_after_its_outline_entry_starts_the_node_there() -> None:
    entries = [OutlineEntry(0, "Objects and values", 0), OutlineEntry(0, "Aliasing", 1), OutlineEntry(0, "Next", 3)]
    nodes = nodes_from_outline(entries, 4)
    texts = {
        1: "Objects and values\nintro",
        2: "more about objects and values, figures and examples that go on for a while",
        3: "the end of that section, long enough to be more than a running head.\nAliasing\nb = a",
        4: "Next\nbody",
    }
    placed = heading_pages(nodes, texts)
    assert [(n.title, n.first_page) for n in placed] == [("Objects and values", 1), ("Aliasing", 3), ("Next", 4)]
    segments = [segment for page in range(1, 5) for segment in split_page(placed, page, texts[page])]
    by_node = {key: " ".join(s.text for s in segments if s.node_key == key) for key in (0, 1, 2)}
    assert "figures and examples" in by_node[0] and "the end of that section" in by_node[0]
    assert by_node[1].startswith("Aliasing") and "figures" not in by_node[1]
    # A title found on neither page leaves the node where the outline put it.
    assert heading_pages(nodes, {**texts, 3: "no heading here"}) == nodes
    assert heading_pages(nodes, {1: texts[1]}) == nodes


def test_chunks_are_bounded_overlapping_and_keep_pages() -> None:
    sentence = "This sentence is about recursion and stack frames. "
    pieces = [(5, sentence * 40), (6, sentence * 40)]
    passages = chunk_node_text(pieces)
    assert len(passages) > 3
    assert all(len(text) <= MAX_CHARS for _page, text in passages)
    assert passages[0][0] == 5 and passages[-1][0] == 6
    for (_p1, first), (_p2, second) in itertools.pairwise(passages):
        overlap = first[-OVERLAP_CHARS // 2 :]
        assert overlap.strip()[:20] in second[: OVERLAP_CHARS + 40]
    # Words are never cut in half.
    assert all(text.split()[0] in sentence.split() for _page, text in passages)


def test_atoms_never_cross_nodes() -> None:
    segments = [Segment(0, 1, "alpha " * 300), Segment(1, 1, "beta " * 10), Segment(1, 2, "gamma " * 10)]
    atoms = atoms_from_segments(segments)
    assert {a.node_key for a in atoms if "alpha" in a.text} == {0}
    assert not any("alpha" in a.text and "beta" in a.text for a in atoms)
    node_1 = [a for a in atoms if a.node_key == 1]
    assert len(node_1) == 1 and "beta" in node_1[0].text and "gamma" in node_1[0].text


def test_normalise_joins_hyphenation() -> None:
    assert normalise_page_text("math\x02\r\nematicians\r\nuse\x00it") == "mathematicians\nuse it"


PDF_BODY = b"%PDF-1.7\n" + b"x" * 20 + b"\n%%EOF\n"


def test_upload_checks_accept_a_whole_pdf_in_chunks() -> None:
    checks = UploadChecks(max_bytes=100, chunk_max_bytes=10)
    for start in range(0, len(PDF_BODY), 10):
        checks.add(PDF_BODY[start : start + 10])
    assert checks.finish(hashlib.sha256(PDF_BODY).hexdigest()) == hashlib.sha256(PDF_BODY).hexdigest()
    assert checks.size == len(PDF_BODY)


def _finish(chunks: list[bytes], *, max_bytes: int = 100, chunk_max_bytes: int = 100, expected: str = "") -> str:
    checks = UploadChecks(max_bytes=max_bytes, chunk_max_bytes=chunk_max_bytes)
    for chunk in chunks:
        checks.add(chunk)
    return checks.finish(expected)


@pytest.mark.parametrize(("upload", "error", "words"), [
    pytest.param(lambda: _finish([PDF_BODY], expected="0" * 64), InvalidArgument, "expected_sha256",
                 id="sha-mismatch"),
    pytest.param(lambda: _finish([b"x" * 11], chunk_max_bytes=10), InvalidArgument, "at most 10 bytes",
                 id="chunk-too-big"),
    pytest.param(lambda: _finish([b"%PDF-12345", b"123456"], max_bytes=15, chunk_max_bytes=10), ResourceExhausted,
                 "file too large", id="file-too-big"),
    pytest.param(lambda: _finish([PDF_BODY[:-8]]), InvalidArgument, "truncated", id="truncated"),
    pytest.param(lambda: _finish([b"hello world, this is text\n%%EOF"]), InvalidArgument, "not a PDF",
                 id="not-a-pdf"),
    pytest.param(lambda: _finish([]), InvalidArgument, "no file content", id="empty"),
])
def test_upload_checks_refuse(upload: Callable[[], str], error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        upload()


def test_metadata_validation_names_fields() -> None:
    with pytest.raises(InvalidArgument) as raised:
        UploadMetadata(title=" ", filename="", expected_sha256="xyz").validated()
    assert set(raised.value.violations) == {"metadata.title", "metadata.filename", "metadata.expected_sha256"}


def test_nodes_end_on_the_page_where_the_next_starts_mid_page() -> None:
    entries = [OutlineEntry(0, "Chapter", 0), OutlineEntry(1, "First", 0), OutlineEntry(1, "Second", 2),
               OutlineEntry(0, "Next chapter", 4)]
    nodes = nodes_from_outline(entries, 6)
    texts = {3: "the rest of the first section, long enough to be more than a running head.\nSecond\nbody",
             5: "Next chapter\nbody"}
    extended = extend_into_shared_pages(nodes, texts)
    assert [(n.title, n.first_page, n.last_page) for n in extended] == [
        ("Chapter", 1, 4), ("First", 1, 3), ("Second", 3, 4), ("Next chapter", 5, 6)
    ]


@pytest.mark.parametrize(("pages", "target"), [
    pytest.param(10, MIN_RANGE_PAGES, id="small-book-min"),
    pytest.param(288, 48, id="thinkpython-six-ranges"),
    pytest.param(5000, MAX_RANGE_PAGES, id="huge-book-max"),
])
def test_range_target_pages(pages: int, target: int) -> None:
    assert range_target_pages(pages) == target


def test_ingest_failures_survive_pickling() -> None:
    # Celery hands on_failure a pickled copy of the exception; the reason must survive it.
    copy = pickle.loads(pickle.dumps(IngestFailed(FailureReason.NO_TEXT, "no text")))
    assert isinstance(copy, IngestFailed) and (copy.reason, copy.message) == (FailureReason.NO_TEXT, "no text")


# --- stored files ---------------------------------------------------------------------------------

_JOB = uuid.UUID("0b8f4d5e-6a8c-4c1e-9a55-3f2d1c0b9a87")


@pytest.mark.parametrize(("key", "job"), [
    pytest.param(f"uploads/{_JOB}.pdf", _JOB, id="a-jobs-file"),
    pytest.param(f"uploads/{_JOB}.pdf.bak", None, id="another-suffix"),
    pytest.param(f"elsewhere/{_JOB}.pdf", None, id="another-folder"),
    pytest.param("uploads/notes.pdf", None, id="not-a-job-id"),
    pytest.param(f"uploads/{str(_JOB).upper()}.pdf", None, id="not-a-name-we-write"),
])
def test_only_the_names_of_job_files_map_to_a_job(key: str, job: uuid.UUID | None) -> None:
    assert job_of_key(key) == job


def test_a_stored_key_maps_back_to_its_job() -> None:
    assert job_of_key(storage_key(_JOB)) == _JOB


def test_abandoned_files_are_those_left_longer_than_the_grace() -> None:
    files = [StoredFile("a", 1000.0), StoredFile("b", 1990.0), StoredFile("c", 2000.0)]
    assert abandoned(files, now=2000.0, grace_seconds=10.0) == [StoredFile("a", 1000.0)]
