"""Page text to passages (content atoms): cut along node boundaries, sized for the embedder.

A page's text is split where the nodes that start on it begin (found by their titles, on the page
the outline gives or the next: `heading_pages`), then each node's text, across pages, is cut into
passages of about 800-1200 characters at paragraph, sentence or word boundaries, each overlapping
the previous one by about 150 characters. A passage never holds text of two nodes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from content_svc.contract import ParsedNode

MIN_CHARS = 800
MAX_CHARS = 1200
OVERLAP_CHARS = 150
# Text before the first heading on a page that is at most this long (a running head, "Chapter 3")
# belongs to the node starting there rather than to the one that ended.
HEADER_SLACK_CHARS = 40

_BREAKS = (re.compile(r"\n\s*\n"), re.compile(r"[.!?:;][\"')\]]*\s"), re.compile(r"\s"))


@dataclass(frozen=True)
class Segment:
    """The text of one node on one page."""

    node_key: int
    page_number: int
    text: str


@dataclass(frozen=True)
class AtomDraft:
    node_key: int
    page_number: int
    text: str


def normalise_page_text(raw: str) -> str:
    """pdfium text to plain text: unix newlines, hyphenation joined, control characters gone."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\x02\n", "").replace("\x02", "")  # \x02 marks a soft hyphen at a line break
    text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", " ", text)
    return text.strip()


def _title_pattern(title: str) -> re.Pattern[str] | None:
    words = title.split()
    if not words:
        return None
    return re.compile(r"\s*".join(re.escape(word) for word in words), re.IGNORECASE)


def heading_pages(nodes: Sequence[ParsedNode], texts: Mapping[int, str]) -> list[ParsedNode]:
    """Nodes as their headings place them: an outline may point one page early (thinkpython2 does
    for 3 of its 241 entries), and a node whose title is not on its outline page but on the next
    starts there, so that page's text before the heading, and the page before, stay with the node
    they belong to and no passage straddles the two. `texts` needs a node's first page and the next
    one for it to be moved; the nodes of other pages are left as they are."""
    placed = []
    for node in nodes:
        page = node.first_page
        pattern = _title_pattern(node.title)
        if (
            pattern is not None and page in texts and page + 1 in texts
            and not pattern.search(texts[page]) and pattern.search(texts[page + 1])
        ):
            node = replace(node, first_page=page + 1, last_page=max(node.last_page, page + 1))
        placed.append(node)
    return placed


def owner_at_page_start(nodes: Sequence[ParsedNode], page_number: int) -> ParsedNode | None:
    """The node whose text runs into the top of `page_number` (the last one started before it)."""
    owner = None
    for node in nodes:
        if node.first_page < page_number:
            owner = node
    return owner


# What may precede a title on its heading line: its number ("10.11.", "B.5", "Chapter 3").
_HEADING_NUMBER = re.compile(r"(?:chapter|part|appendix|section)?\s*(?:\d+|[A-Z])(?:\.\d+)*\.?\s*", re.IGNORECASE)


def _heading_start(text: str, title_start: int, earliest: int) -> int:
    """Where a heading begins: the title, or the start of its line when only a number precedes it."""
    line_start = max(text.rfind("\n", 0, title_start) + 1, earliest)
    return line_start if _HEADING_NUMBER.fullmatch(text, line_start, title_start) else title_start


def split_page(nodes: Sequence[ParsedNode], page_number: int, text: str) -> list[Segment]:
    """The page's text divided among the nodes that own it, in reading order."""
    if not text:
        return []
    starting = [node for node in nodes if node.first_page == page_number]
    carried = owner_at_page_start(nodes, page_number)
    cuts: list[tuple[int, int]] = []  # (position, node key)
    cursor = 0
    for node in starting:
        pattern = _title_pattern(node.title)
        found = pattern.search(text, cursor) if pattern else None
        if found:
            position = _heading_start(text, found.start(), cursor)
            cursor = found.end()
        else:
            position = cursor
        cuts.append((position, node.key))
    if cuts:
        first_position = cuts[0][0]
        prefix = text[:first_position]
        if carried is None or len("".join(prefix.split())) <= HEADER_SLACK_CHARS:
            cuts[0] = (0, cuts[0][1])
        else:
            cuts.insert(0, (0, carried.key))
    elif carried is not None:
        cuts = [(0, carried.key)]
    else:
        return []
    segments = []
    for index, (position, key) in enumerate(cuts):
        end = cuts[index + 1][0] if index + 1 < len(cuts) else len(text)
        piece = text[position:end].strip()
        if piece:
            segments.append(Segment(key, page_number, piece))
    return segments


def _break_before(text: str, start: int, limit: int, earliest: int) -> int:
    """The best cut in text[earliest:limit]: paragraph, then sentence, then word; else `limit`."""
    window = text[earliest:limit]
    for pattern in _BREAKS:
        last = None
        for match in pattern.finditer(window):
            last = match
        if last is not None:
            return earliest + last.end()
    return limit


def _next_start(text: str, end: int, previous_start: int) -> int:
    """Where the next passage begins: about OVERLAP_CHARS before `end`, at a word start."""
    start = max(end - OVERLAP_CHARS, previous_start + 1)
    space = re.compile(r"\s").search(text, start, end)
    start = space.end() if space is not None else end
    while start < len(text) and text[start].isspace():
        start += 1
    return start


def chunk_node_text(pieces: Sequence[tuple[int, str]]) -> list[tuple[int, str]]:
    """Passages of one node's text given as (page_number, text) pieces in order: (page, passage)."""
    text_parts: list[str] = []
    page_starts: list[tuple[int, int]] = []  # (offset, page)
    offset = 0
    for page, piece in pieces:
        if not piece:
            continue
        if text_parts:
            text_parts.append("\n\n")
            offset += 2
        page_starts.append((offset, page))
        text_parts.append(piece)
        offset += len(piece)
    text = "".join(text_parts)

    def page_at(position: int) -> int:
        current = page_starts[0][1]
        for start, page in page_starts:
            if start > position:
                break
            current = page
        return current

    passages: list[tuple[int, str]] = []
    start = 0
    while start < len(text):
        if len(text) - start <= MAX_CHARS:
            end = len(text)
        else:
            end = _break_before(text, start, start + MAX_CHARS, start + MIN_CHARS)
        passage = text[start:end].strip()
        if passage:
            lead = len(text[start:end]) - len(text[start:end].lstrip())
            passages.append((page_at(start + lead), passage))
        if end >= len(text):
            break
        start = _next_start(text, end, start)
    return passages


def atoms_from_segments(segments: Iterable[Segment]) -> list[AtomDraft]:
    """Passages for consecutive segments, never crossing from one node into another."""
    atoms: list[AtomDraft] = []
    run: list[tuple[int, str]] = []
    run_key: int | None = None
    for segment in [*segments, None]:
        if segment is None or segment.node_key != run_key:
            if run_key is not None and run:
                atoms.extend(AtomDraft(run_key, page, text) for page, text in chunk_node_text(run))
            run = []
            run_key = segment.node_key if segment is not None else None
        if segment is not None:
            run.append((segment.page_number, segment.text))
    return atoms


def runs_onto_start_page(nodes: Sequence[ParsedNode], page_number: int, segments: Sequence[Segment]) -> int | None:
    """On a page where nodes start, the key of the earlier node whose text tops it (None if none does).

    `segments` is `split_page`'s result for the page. Range tasks report this for the start pages
    they extract, so no separate pass over those pages is needed to find where nodes end.
    """
    if not segments:
        return None
    starting = {node.key for node in nodes if node.first_page == page_number}
    if not starting or segments[0].node_key in starting:
        return None
    return segments[0].node_key


def extend_to_shared_pages(nodes: Sequence[ParsedNode], runs_onto: Mapping[int, int]) -> list[ParsedNode]:
    """Nodes (and their ancestors) whose text runs onto the page where the next node starts end there.

    `runs_onto` maps such start pages to the node whose text tops them (`runs_onto_start_page`).
    """
    extended = {node.key: node for node in nodes}
    for page, top_key in runs_onto.items():
        key: int | None = top_key
        while key is not None and key in extended:
            node = extended[key]
            if node.last_page == page - 1:
                extended[key] = replace(node, last_page=page)
            key = node.parent_key
    return [extended[node.key] for node in nodes]


def extend_into_shared_pages(nodes: Sequence[ParsedNode], page_texts: Mapping[int, str]) -> list[ParsedNode]:
    """Nodes whose text runs onto the page where the next node starts mid-page end on that page.

    The outline only says where nodes start; a section usually ends halfway down the page the next
    one starts on. `page_texts` holds the text of the pages where nodes start.
    """
    runs_onto = {}
    for page, text in page_texts.items():
        top = runs_onto_start_page(nodes, page, split_page(nodes, page, text))
        if top is not None:
            runs_onto[page] = top
    return extend_to_shared_pages(nodes, runs_onto)
