"""A PDF from upload (gRPC stream) to searchable (job SUCCEEDED), against a bare single-process script.

The bare script does what any ingest must: pypdfium2 text extraction and chunking (the same parsing
functions, so the same atoms), embedding, and ContentService's own loader (content_svc.writer: the
COPYs, the HNSW index maintained, the posting lists), in one process, rolled back at the end. No
object storage, jobs, Celery or page ranges.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy
import psycopg

from bench.harness import Stopwatch, auth, channel, ratio
from content_svc.contract import Embedder, ParsedAtom, ParsedBook, ParsedNode
from content_svc.writer import load_book
from devstack import Stack
from ingest_svc.pdf import open_pdf, page_text, read_outline
from ingest_svc.rules.passages import (
    AtomDraft,
    atoms_from_segments,
    extend_into_shared_pages,
    heading_pages,
    split_page,
)
from ingest_svc.rules.structure import nodes_from_outline, page_range_nodes
from teaching.content.v1 import content_service_pb2 as content_pb
from teaching.content.v1 import content_service_pb2_grpc
from teaching.ingest.v1 import ingest_service_pb2 as pb
from teaching.ingest.v1 import ingest_service_pb2_grpc

CHUNK_BYTES = 1024 * 1024
TERMINAL = {pb.INGEST_JOB_STATE_SUCCEEDED, pb.INGEST_JOB_STATE_FAILED, pb.INGEST_JOB_STATE_CANCELLED}


def parse_pdf(path: Path) -> tuple[int, list[ParsedNode], list[AtomDraft]]:
    """Page count, nodes and atoms, with the ingest pipeline's own parsing functions."""
    with open_pdf(path) as document:
        page_count = len(document)
        entries = read_outline(document)
        texts = {page: page_text(document, page) for page in range(1, page_count + 1)}
    if entries:
        first_start = next((e.page_index for e in entries if e.page_index is not None), 0)
        front_matter = any(texts[page] for page in range(1, first_start + 1))
        nodes = nodes_from_outline(entries, page_count, front_matter=front_matter)
    else:
        nodes = page_range_nodes(page_count)
    nodes = heading_pages(nodes, texts)
    starts = {node.first_page for node in nodes} - {1}
    nodes = extend_into_shared_pages(nodes, {page: texts[page] for page in starts})
    segments = [segment for page in range(1, page_count + 1) for segment in split_page(nodes, page, texts[page])]
    return page_count, nodes, atoms_from_segments(segments)


def parsed_book(path: Path, data: bytes, title: str) -> ParsedBook:
    page_count, nodes, atoms = parse_pdf(path)
    return ParsedBook(
        title=title, authors=["Bench"], subject="bench", grade_level="", page_count=page_count,
        content_sha256=hashlib.sha256(data).hexdigest(), nodes=list(nodes),
        atoms=[ParsedAtom(a.node_key, i, a.page_number, a.text) for i, a in enumerate(atoms)],
    )


def bare_pipeline(path: Path, conninfo: str, embedder: Embedder) -> dict[str, Any]:
    phases: dict[str, float] = {}
    total = Stopwatch()
    watch = Stopwatch()
    # Another file's hash: the service loads the same PDF afterwards.
    book = parsed_book(path, path.read_bytes() + b"bare", path.stem)
    phases["extract_and_chunk_s"] = watch.seconds()
    watch = Stopwatch()
    vectors = embedder.embed([atom.text for atom in book.atoms])
    phases["embed_s"] = watch.seconds()
    with psycopg.connect(conninfo) as conn:
        watch = Stopwatch()
        with conn.transaction(force_rollback=True):
            load_book(conn, uuid.uuid4(), book, vectors, embedder)
            phases["load_s"] = watch.seconds()
            seconds = total.seconds()
    return {
        "seconds": round(seconds, 3),
        "phases": {k: round(v, 3) for k, v in phases.items()},
        "pages": book.page_count,
        "nodes": len(book.nodes),
        "atoms": len(book.atoms),
        "pages_per_second": round(book.page_count / seconds, 1),
    }


def _requests(data: bytes, title: str) -> Iterator[pb.UploadBookRequest]:
    yield pb.UploadBookRequest(metadata=pb.UploadBookMetadata(
        title=title, filename="book.pdf", authors=["Bench"], subject="bench",
        expected_sha256=hashlib.sha256(data).hexdigest(),
    ))
    for start in range(0, len(data), CHUNK_BYTES):
        yield pb.UploadBookRequest(chunk=data[start : start + CHUNK_BYTES])


def upload_to_searchable(stack: Stack, data: bytes, title: str, *, timeout: float = 600) -> dict[str, Any]:
    """Upload over gRPC, poll the job every 20 ms until it ends; the book id once searchable."""
    admin = auth(stack, "bench-admin", "admin")
    with channel(stack.address("ingest")) as ingest_channel, channel(stack.address("content")) as content_channel:
        stub = ingest_service_pb2_grpc.IngestServiceStub(ingest_channel)
        total = Stopwatch()
        response = stub.UploadBook(_requests(data, title), metadata=admin, timeout=120)
        upload_seconds = total.seconds()
        deadline = time.monotonic() + timeout
        job = response.job
        while job.state not in TERMINAL:
            if time.monotonic() > deadline:
                raise RuntimeError(f"ingest job {job.job_id} still running after {timeout:.0f}s")
            time.sleep(0.02)
            job = stub.GetIngestJob(pb.GetIngestJobRequest(job_id=job.job_id), metadata=admin, timeout=10).job
        seconds = total.seconds()
        if job.state != pb.INGEST_JOB_STATE_SUCCEEDED:
            state = pb.IngestJobState.Name(job.state)
            raise RuntimeError(f"ingest job {job.job_id} ended {state}: {job.error_message}")
        hits = content_service_pb2_grpc.ContentServiceStub(content_channel).SearchContent(
            content_pb.SearchContentRequest(query="program", book_ids=[job.book_id], top_k=1),
            metadata=admin, timeout=30,
        ).results
    return {
        "book_id": job.book_id,
        "seconds": round(seconds, 3),
        "upload_seconds": round(upload_seconds, 4),
        "upload_mb_per_s": round(len(data) / 2**20 / upload_seconds, 1),
        "pages": job.pages_total,
        "atoms": job.atoms_written,
        "pages_per_second": round(job.pages_total / seconds, 1),
        "searchable": bool(hits),
    }


def upload_throughput(stack: Stack, megabytes: int) -> dict[str, Any]:
    """Streaming speed on a larger body: the PDF check fails after the bytes are in, which is all we time."""
    data = b"%PDF-1.7\n" + numpy.random.default_rng(3).bytes(megabytes * 2**20)
    admin = auth(stack, "bench-admin", "admin")
    with channel(stack.address("ingest")) as ingest_channel:
        stub = ingest_service_pb2_grpc.IngestServiceStub(ingest_channel)
        watch = Stopwatch()
        try:
            stub.UploadBook(_requests(data, "Upload throughput"), metadata=admin, timeout=120)
        except Exception as error:  # a random body is not a PDF: rejected (or failed later), after streaming
            outcome = type(error).__name__
        else:
            outcome = "accepted"
        seconds = watch.seconds()
    # Baseline: what the service does with the bytes besides gRPC (hash them, write them to a file).
    watch = Stopwatch()
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=stack.data_dir) as handle:
        for start in range(0, len(data), CHUNK_BYTES):
            block = data[start : start + CHUNK_BYTES]
            digest.update(block)
            handle.write(block)
        handle.flush()
        os.fsync(handle.fileno())
    local_seconds = watch.seconds()
    return {"megabytes": megabytes, "seconds": round(seconds, 3), "mb_per_s": round(megabytes / seconds, 1),
            "outcome": outcome, "local_write_mb_per_s": round(megabytes / local_seconds, 1),
            "ratio_mb_per_s": ratio(megabytes / seconds, megabytes / local_seconds)}


def bench_ingest(stack: Stack, pdf: Path, embedder: Embedder) -> dict[str, Any]:
    data = pdf.read_bytes()
    bare = bare_pipeline(pdf, stack.settings.content_conninfo(), embedder)
    service = upload_to_searchable(stack, data, pdf.stem)
    return {
        "pdf": pdf.name,
        "bytes": len(data),
        "service": service,
        "bare": bare,
        "ratio_seconds": ratio(service["seconds"], bare["seconds"]),
    }


def load_pdf_direct(conninfo: str, path: Path, embedder: Embedder) -> str:
    """Put a PDF in the library without the ingest service (when the ingest benchmark is skipped)."""
    book = parsed_book(path, path.read_bytes(), path.stem)
    book_id = uuid.uuid4()
    with psycopg.connect(conninfo) as conn:
        load_book(conn, book_id, book, embedder.embed([a.text for a in book.atoms]), embedder)
    return str(book_id)
