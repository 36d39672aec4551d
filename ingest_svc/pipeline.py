"""The ingestion pipeline's steps, independent of Celery (worker.py wires them to tasks).

prepare: open the stored PDF, turn its outline into structure nodes, plan page ranges, fan out.
    It reads no page text beyond the front matter check, so ranges start right away.
process_range: extract a range's text, cut it into passages, embed them; store the result keyed by
    (job, range), so a repeated run changes nothing; the last range to finish triggers finalize.
    It also reports, for the pages in it where nodes start, which earlier node's text tops the page.
finalize: under the job's row lock, refuse a cancelled job, extend nodes onto the pages their text
    runs onto (from the ranges' reports), then load the whole book in one transaction with
    content_svc.writer and mark the job SUCCEEDED in that same transaction.
Every step re-reads the job first and stops if it ended, so duplicates and late messages are harmless.
A step whose successors the broker would not take leaves the job to the outbox (ingest_svc.outbox),
which publishes its prepare again: prepare resumes a job from wherever it is.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import numpy as np
from psycopg import Connection
from psycopg_pool import ConnectionPool

from common import tracing
from common.errors import InvalidArgument
from content_svc.contract import DuplicateBook, Embedder, ParsedAtom, ParsedBook, ParsedNode
from content_svc.writer import load_book
from ingest_svc import repository
from ingest_svc.holds import HoldPoints
from ingest_svc.pdf import open_pdf, page_text, structure_nodes
from ingest_svc.rules.jobs import (
    Dispatcher,
    DispatchFailed,
    FailureReason,
    IngestFailed,
    JobCancelled,
    JobState,
    Stage,
)
from ingest_svc.rules.passages import (
    AtomDraft,
    Segment,
    atoms_from_segments,
    extend_to_shared_pages,
    heading_pages,
    runs_onto_start_page,
    split_page,
)
from ingest_svc.rules.structure import plan_page_ranges, range_target_pages
from ingest_svc.storage import ObjectStorage

log = logging.getLogger(__name__)

EMBED_BATCH = 64
# Cancellation and liveness are checked this often while extracting text.
CHECK_EVERY_PAGES = 8
class Pipeline:
    def __init__(
        self,
        pool: ConnectionPool[Connection[Any]],
        storage: ObjectStorage,
        embedder: Embedder,
        dispatcher: Dispatcher,
        worker_name: str,
        holds: HoldPoints | None = None,
    ) -> None:
        self.pool = pool
        self.storage = storage
        self.embedder = embedder
        self.dispatcher = dispatcher
        self.worker_name = worker_name
        self.holds = holds or HoldPoints(None)

    # --- steps ---------------------------------------------------------------------------------

    def prepare(self, job_id: uuid.UUID) -> None:
        with self.pool.connection() as conn:
            job = repository.get_job(conn, job_id)
            if job is None or job.state.is_terminal:
                return
            repository.start_job(conn, job_id, Stage.PARSING, self.worker_name)
            plan = repository.get_plan(conn, job_id)
        if plan is None:
            with self.storage.local_copy(job.storage_key) as path, open_pdf(path) as document:
                page_count = len(document)
                nodes = structure_nodes(document)
            ranges = plan_page_ranges(nodes, page_count, range_target_pages(page_count))
            with self.pool.connection() as conn:
                self._check_in_flight(conn, job_id)
                repository.save_plan(conn, job_id, nodes, page_count, ranges)
        with self.pool.connection() as conn:
            pending = repository.pending_ranges(conn, job_id)
        log.info("job %s: dispatching %d page range(s)", job_id, len(pending))
        try:
            for first, last in pending:
                self.dispatcher.process_range(job_id, first, last)
            if not pending:
                self.dispatcher.finalize(job_id)
        except DispatchFailed as error:
            self._leave_to_outbox(job_id, error)

    def process_range(self, job_id: uuid.UUID, first_page: int, last_page: int) -> None:
        with self.pool.connection() as conn:
            job = repository.get_job(conn, job_id)
            if job is None or job.state.is_terminal:
                return
            if not repository.claim_range(conn, job_id, first_page, self.worker_name, Stage.PARSING):
                # Done by an earlier delivery; make sure the join was not lost with a dead worker.
                remaining = len(repository.pending_ranges(conn, job_id))
                if remaining == 0:
                    self._finalize_later(job_id)
                return
            nodes = self._planned_nodes(conn, job_id)
        texts: dict[int, str] = {}
        with self.storage.local_copy(job.storage_key) as path, open_pdf(path) as document:
            # One page either side too: a heading a page after its outline entry moves the cut.
            for page in range(max(1, first_page - 1), min(len(document), last_page + 1) + 1):
                if (page - first_page) % CHECK_EVERY_PAGES == 0:
                    self._beat(job_id)
                texts[page] = page_text(document, page)
        nodes = heading_pages(nodes, texts)
        start_pages = {node.first_page for node in nodes}
        segments: list[Segment] = []
        runs_onto: dict[int, int] = {}
        for page in range(first_page, last_page + 1):
            page_segments = split_page(nodes, page, texts[page])
            if page in start_pages:
                top = runs_onto_start_page(nodes, page, page_segments)
                if top is not None:
                    runs_onto[page] = top
            segments.extend(page_segments)
        atoms = atoms_from_segments(segments)
        with self.pool.connection() as conn:
            repository.set_stage(conn, job_id, Stage.EMBEDDING, self.worker_name)
        vectors = self._embed(job_id, [atom.text for atom in atoms])
        with self.pool.connection() as conn:
            self._check_in_flight(conn, job_id)
            remaining = repository.complete_range(
                conn, job_id, first_page, atoms, vectors.astype(np.float32).tobytes(), runs_onto
            )
        self.holds.wait(HoldPoints.RANGE_DONE, job.content_sha256)
        if remaining == 0:
            self._finalize_later(job_id)

    def finalize(self, job_id: uuid.UUID) -> None:
        with self.pool.connection() as conn:
            job = repository.get_job(conn, job_id)
            if job is None or job.state.is_terminal or repository.pending_ranges(conn, job_id):
                return
            repository.set_stage(conn, job_id, Stage.LOADING, self.worker_name)
        with self.pool.connection() as conn, conn.transaction():
            # The row lock orders us with CancelIngestJob: whoever comes second sees the other's result.
            job = repository.get_job(conn, job_id, for_update=True)
            if job is None or job.state is not JobState.RUNNING or repository.pending_ranges(conn, job_id):
                return
            nodes = self._planned_nodes(conn, job_id)
            atoms: list[AtomDraft] = []
            blocks: list[np.ndarray] = []
            runs_onto: dict[int, int] = {}
            for result in repository.range_results(conn, job_id):
                atoms.extend(result.atoms)
                blocks.append(np.frombuffer(result.embeddings, dtype=np.float32).reshape(len(result.atoms), -1)
                              if result.atoms else np.zeros((0, self.embedder.dimension), np.float32))
                runs_onto.update(result.runs_onto)
            # A node ends on the page where the next one starts when its text runs onto that page.
            nodes = extend_to_shared_pages(nodes, runs_onto)
            if not atoms:
                raise IngestFailed(
                    FailureReason.NO_TEXT,
                    "no page has extractable text (scanned pages without a text layer?); "
                    "run OCR on the PDF and upload it again",
                )
            embeddings = np.concatenate(blocks) if blocks else np.zeros((0, self.embedder.dimension))
            book = ParsedBook(
                **job.metadata(),
                page_count=job.pages_total,
                content_sha256=job.content_sha256,
                nodes=list(nodes),
                atoms=[
                    ParsedAtom(node_key=a.node_key, ordinal=i, page_number=a.page_number, text=a.text)
                    for i, a in enumerate(atoms)
                ],
            )
            try:
                load_book(conn, job.book_id, book, embeddings, self.embedder)
            except DuplicateBook as duplicate:
                raise IngestFailed(
                    FailureReason.INTERNAL,
                    f"the library already has this file as book {duplicate.existing_book_id}; use that book",
                ) from duplicate
            except InvalidArgument as refused:  # a parsing bug: retrying cannot help
                raise IngestFailed(
                    FailureReason.INTERNAL, f"the library refused the parsed book ({refused.message}); report it"
                ) from refused
            repository.mark_succeeded(conn, job_id, len(atoms))
        log.info("job %s: book %s loaded with %d passages", job_id, job.book_id, len(atoms))

    # --- failure and helpers -------------------------------------------------------------------

    def fail(self, job_id: uuid.UUID, reason: FailureReason, message: str) -> None:
        with self.pool.connection() as conn:
            if repository.mark_failed(conn, job_id, reason, message):
                log.warning("job %s failed (%s): %s", job_id, reason.value, message)

    def _finalize_later(self, job_id: uuid.UUID) -> None:
        try:
            self.dispatcher.finalize(job_id)
        except DispatchFailed as error:
            self._leave_to_outbox(job_id, error)

    def _leave_to_outbox(self, job_id: uuid.UUID, error: DispatchFailed) -> None:
        log.warning("job %s: the broker did not take the next step (%s); left to the outbox", job_id, error)
        with self.pool.connection() as conn:
            repository.request_dispatch(conn, job_id, tracing.current_context())

    def _planned_nodes(self, conn: Connection[Any], job_id: uuid.UUID) -> list[ParsedNode]:
        nodes = repository.get_plan(conn, job_id)
        if nodes is None:
            raise RuntimeError(f"job {job_id} has page ranges but no plan")
        return nodes

    def _check_in_flight(self, conn: Connection[Any], job_id: uuid.UUID) -> None:
        state = repository.get_state(conn, job_id)
        if state is None or state.is_terminal:
            raise JobCancelled(str(job_id))

    def _beat(self, job_id: uuid.UUID) -> None:
        with self.pool.connection() as conn:
            state = repository.heartbeat(conn, job_id)
        if state is None or state.is_terminal:
            raise JobCancelled(str(job_id))

    def _embed(self, job_id: uuid.UUID, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.embedder.dimension), dtype=np.float32)
        batches = []
        for start in range(0, len(texts), EMBED_BATCH):
            self._beat(job_id)
            batches.append(np.asarray(self.embedder.embed(texts[start : start + EMBED_BATCH]), np.float32))
        return np.concatenate(batches)
