"""A PDF's outline (or, without one, its page ranges) as a tree of structure nodes with page ranges."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from content_svc.contract import ParsedNode

# Outlines deeper than this are cut (real books rarely go past 4 levels; hostile files go to thousands).
MAX_OUTLINE_DEPTH = 8
# More entries than this is not a table of contents any more; the rest is ignored.
MAX_OUTLINE_ENTRIES = 20_000
MAX_TITLE_CHARS = 300
# Without an outline: one node per page for tiny documents, else one node per this many pages.
PAGES_PER_RANGE_NODE = 10
FRONT_MATTER_TITLE = "Front matter"
# A book is split into about this many page ranges (parallel tasks): 3x the default worker concurrency
# of 2, enough to balance the load; more only adds per-task costs (a 288-page book: 12 ranges of 24
# pages took 0.44 s, 6 of 48 took 0.37 s). Bounded so small books still spread and a range of a huge
# book stays a short task (heartbeats, redelivery after a crash).
RANGES_PER_BOOK = 6
MIN_RANGE_PAGES = 16
MAX_RANGE_PAGES = 64


@dataclass(frozen=True)
class OutlineEntry:
    """One bookmark in pre-order: 0-based depth, title, 0-based target page (None when it has none)."""

    depth: int
    title: str
    page_index: int | None


def clean_title(raw: str) -> str:
    title = " ".join(raw.replace("\x00", " ").split())
    return title[:MAX_TITLE_CHARS] or "Untitled"


def nodes_from_outline(
    entries: Sequence[OutlineEntry], page_count: int, *, front_matter: bool = False
) -> list[ParsedNode]:
    """The outline as a node tree in pre-order.

    A node starts at its bookmark's page (or where the previous node starts when the bookmark has no
    target) and ends just before the next node at the same or a higher level starts (at least on its
    own first page), or at the end of the book. With `front_matter`, the pages before the first
    bookmark become a leading top-level node, so their text has a home.
    """
    if page_count < 1:
        return []
    usable = list(entries[:MAX_OUTLINE_ENTRIES])
    starts: list[int] = []
    levels: list[int] = []
    previous_start = 1
    previous_level = 0
    for entry in usable:
        page = previous_start if entry.page_index is None else entry.page_index + 1
        page = min(max(page, 1), page_count)
        # A child may only be one level below its predecessor; clamp jumps (a malformed tree).
        level = min(max(entry.depth, 0) + 1, previous_level + 1, MAX_OUTLINE_DEPTH)
        starts.append(page)
        levels.append(level)
        previous_start, previous_level = page, level

    drafts: list[tuple[int, str, int]] = list(
        zip(levels, (clean_title(e.title) for e in usable), starts, strict=True)
    )
    if front_matter and drafts and drafts[0][2] > 1:
        drafts.insert(0, (1, FRONT_MATTER_TITLE, 1))
    return _tree(drafts, page_count)


def _tree(drafts: Sequence[tuple[int, str, int]], page_count: int) -> list[ParsedNode]:
    nodes: list[ParsedNode] = []
    stack: list[int] = []  # keys of the open ancestors
    children: dict[int | None, int] = {}
    for key, (level, title, first_page) in enumerate(drafts):
        while stack and nodes[stack[-1]].level >= level:
            stack.pop()
        parent = stack[-1] if stack else None
        level = (nodes[parent].level + 1) if parent is not None else 1
        ordinal = children.get(parent, 0)
        children[parent] = ordinal + 1
        end = page_count
        for later_level, _title, later_start in drafts[key + 1 :]:
            if later_level <= level:
                end = later_start - 1
                break
        nodes.append(
            ParsedNode(key, parent, level, ordinal, title, first_page, max(first_page, min(end, page_count)))
        )
        stack.append(key)
    return nodes


def page_range_nodes(page_count: int) -> list[ParsedNode]:
    """Nodes for a document without an outline: one per page when tiny, else one per 10 pages."""
    if page_count <= PAGES_PER_RANGE_NODE:
        return [ParsedNode(i, None, 1, i, f"Page {i + 1}", i + 1, i + 1) for i in range(page_count)]
    nodes = []
    for ordinal, first in enumerate(range(1, page_count + 1, PAGES_PER_RANGE_NODE)):
        last = min(first + PAGES_PER_RANGE_NODE - 1, page_count)
        nodes.append(ParsedNode(ordinal, None, 1, ordinal, f"Pages {first}\u2013{last}", first, last))
    return nodes


def range_target_pages(page_count: int) -> int:
    return min(max(-(-page_count // RANGES_PER_BOOK), MIN_RANGE_PAGES), MAX_RANGE_PAGES)


def plan_page_ranges(nodes: Sequence[ParsedNode], page_count: int, target_pages: int) -> list[tuple[int, int]]:
    """Split the book into inclusive page ranges of about `target_pages` for parallel workers.

    Ranges preferably end where a node starts, so few passages are cut by a range boundary.
    """
    if page_count < 1:
        return []
    node_starts = {node.first_page for node in nodes}
    ranges: list[tuple[int, int]] = []
    first = 1
    for page in range(2, page_count + 1):
        length = page - first
        if (length >= target_pages and page in node_starts) or length >= 2 * target_pages:
            ranges.append((first, page - 1))
            first = page
    ranges.append((first, page_count))
    return ranges


