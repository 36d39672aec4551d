"""Reading real PDFs with pypdfium2 (ingest_svc.pdf) and the parsing rules on them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest_svc.pdf import open_pdf, page_text, read_outline
from ingest_svc.rules.jobs import FailureReason, IngestFailed
from ingest_svc.rules.passages import split_page
from ingest_svc.rules.structure import nodes_from_outline


def test_corpus_outlines(corpus: Path) -> None:
    with open_pdf(corpus / "toc.pdf") as document:
        entries = read_outline(document)
        nodes = nodes_from_outline(entries, len(document))
        segments = [s for page in (1, 2) for s in split_page(nodes, page, page_text(document, page))]
    assert [n.title for n in nodes][:3] == ["One", "One-A", "One-B"]
    by_key = {n.key: n.title for n in nodes}
    owners = {by_key[s.node_key]: s.text for s in segments}
    assert "One B I." in owners["One-B-I"] and "Three A." in owners["Three-A"]
    with open_pdf(corpus / "thinkpython2.pdf") as document:
        entries = read_outline(document)
    assert len(entries) == 240


def test_unreadable_pdfs_fail_with_reasons(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\nnot really a pdf\n%%EOF\n")
    with pytest.raises(IngestFailed) as raised, open_pdf(broken):
        pass
    assert raised.value.reason is FailureReason.CORRUPT
