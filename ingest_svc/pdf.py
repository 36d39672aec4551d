"""Reading PDFs with pypdfium2, with failures sorted into reasons an admin can act on."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from content_svc.contract import ParsedNode
from ingest_svc.rules.jobs import FailureReason, IngestFailed
from ingest_svc.rules.passages import normalise_page_text
from ingest_svc.rules.structure import (
    MAX_OUTLINE_DEPTH,
    MAX_OUTLINE_ENTRIES,
    OutlineEntry,
    nodes_from_outline,
    page_range_nodes,
)

log = logging.getLogger(__name__)


@contextlib.contextmanager
def open_pdf(path: Path) -> Iterator[pdfium.PdfDocument]:
    try:
        document = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as error:
        if error.err_code == pdfium_c.FPDF_ERR_PASSWORD:
            raise IngestFailed(
                FailureReason.ENCRYPTED,
                "the PDF is password protected; upload a copy without a password",
            ) from error
        raise IngestFailed(
            FailureReason.CORRUPT,
            f"the file is damaged or not a PDF that can be read ({error}); re-export or re-download it",
        ) from error
    try:
        if len(document) < 1:
            raise IngestFailed(FailureReason.CORRUPT, "the PDF has no pages")
        yield document
    finally:
        document.close()


def read_outline(document: pdfium.PdfDocument) -> list[OutlineEntry]:
    """Bookmarks in pre-order. pypdfium2 skips circular references and subtrees past max_depth."""
    entries: list[OutlineEntry] = []
    for bookmark in document.get_toc(max_depth=MAX_OUTLINE_DEPTH):
        destination = bookmark.get_dest()
        page_index = destination.get_index() if destination is not None else None
        entries.append(OutlineEntry(bookmark.level, bookmark.get_title(), page_index))
        if len(entries) >= MAX_OUTLINE_ENTRIES:
            log.warning("outline has more than %d entries; ignoring the rest", MAX_OUTLINE_ENTRIES)
            break
    return entries


def page_text(document: pdfium.PdfDocument, page_number: int) -> str:
    """Normalised text of a 1-based page; empty when the page has none (or cannot be read)."""
    try:
        page = document[page_number - 1]
    except (pdfium.PdfiumError, IndexError) as error:
        log.warning("page %d unreadable: %s", page_number, error)
        return ""
    try:
        textpage = page.get_textpage()
        try:
            return normalise_page_text(textpage.get_text_bounded())
        finally:
            textpage.close()
    finally:
        page.close()


def structure_nodes(document: pdfium.PdfDocument) -> list[ParsedNode]:
    """The book's structure: its outline as nodes (led by a front matter node when the pages before the
    first bookmark have text), or page-range nodes when it has no outline. Reads no other page text."""
    page_count = len(document)
    entries = read_outline(document)
    if not entries:
        return page_range_nodes(page_count)
    first_start = next((e.page_index for e in entries if e.page_index is not None), 0)
    front_matter = any(page_text(document, page) for page in range(1, first_start + 1))
    return nodes_from_outline(entries, page_count, front_matter=front_matter)
