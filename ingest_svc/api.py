"""gRPC layer of IngestService: translates messages to use-case calls and back, nothing else."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc

from common.auth import require_admin
from common.convert import timestamp
from common.errors import InvalidArgument, ServiceError
from common.ids import parse_id
from common.interceptor import end_stream
from ingest_svc.rules.jobs import FailureReason, Job, JobState, Stage, UploadMetadata
from ingest_svc.usecases import IngestUseCases
from teaching.ingest.v1 import ingest_service_pb2 as pb
from teaching.ingest.v1 import ingest_service_pb2_grpc

# Domain enums and proto enums share their value names.
_STATE_TO_PB = {state: pb.IngestJobState.Value(f"INGEST_JOB_STATE_{state.value}") for state in JobState}
_STATE_FROM_PB = {number: state for state, number in _STATE_TO_PB.items()}
_STAGE_TO_PB = {stage: pb.IngestStage.Value(f"INGEST_STAGE_{stage.value}") for stage in Stage}
_REASON_TO_PB = {
    reason: pb.IngestFailureReason.Value(f"INGEST_FAILURE_REASON_{reason.value}") for reason in FailureReason
}


def job_to_pb(job: Job) -> pb.IngestJob:
    return pb.IngestJob(
        job_id=str(job.job_id),
        book_id=str(job.book_id),
        state=_STATE_TO_PB[job.state],
        stage=_STAGE_TO_PB[job.stage],
        title=job.title,
        filename=job.filename,
        content_sha256=job.content_sha256,
        size_bytes=job.size_bytes,
        pages_total=job.pages_total,
        pages_done=job.pages_done,
        atoms_written=job.atoms_written,
        failure_reason=_REASON_TO_PB[job.failure_reason],
        error_message=job.error_message,
        created_by=job.created_by,
        create_time=timestamp(job.create_time),
        update_time=timestamp(job.update_time),
        end_time=timestamp(job.end_time),
    )


def _chunks(requests: Iterator[pb.UploadBookRequest]) -> Iterator[bytes]:
    for request in requests:
        if request.WhichOneof("payload") != "chunk":
            raise InvalidArgument({"metadata": "only the first message carries metadata; later ones carry chunks"})
        yield request.chunk


class IngestServicer(ingest_service_pb2_grpc.IngestServiceServicer):  # type: ignore[misc]
    def __init__(self, usecases: IngestUseCases) -> None:
        self._usecases = usecases

    def UploadBook(
        self, request_iterator: Iterator[pb.UploadBookRequest], context: grpc.ServicerContext
    ) -> pb.UploadBookResponse:
        identity = require_admin()
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("payload") != "metadata":
            raise InvalidArgument({"metadata": "the first message must carry the book's metadata"})
        meta = first.metadata
        metadata = UploadMetadata(
            title=meta.title,
            filename=meta.filename,
            authors=list(meta.authors),
            subject=meta.subject,
            grade_level=meta.grade_level,
            expected_sha256=meta.expected_sha256,
        )
        outcome = self._usecases.upload(metadata, _chunks(request_iterator), identity.user_id)
        return pb.UploadBookResponse(
            job=job_to_pb(outcome.job) if outcome.job is not None else None,
            book_id=str(outcome.book_id),
            deduplicated=outcome.deduplicated,
        )

    def GetIngestJob(self, request: pb.GetIngestJobRequest, context: grpc.ServicerContext) -> pb.GetIngestJobResponse:
        require_admin()
        return pb.GetIngestJobResponse(job=job_to_pb(self._usecases.get(parse_id(request.job_id, "job_id"))))

    def ListIngestJobs(
        self, request: pb.ListIngestJobsRequest, context: grpc.ServicerContext
    ) -> pb.ListIngestJobsResponse:
        require_admin()
        state = None
        if request.state != pb.INGEST_JOB_STATE_UNSPECIFIED:
            if request.state not in _STATE_FROM_PB:
                raise InvalidArgument({"state": "unknown job state"})
            state = _STATE_FROM_PB[request.state]
        page = self._usecases.list(state, request.page_size, request.page_token)
        return pb.ListIngestJobsResponse(
            jobs=[job_to_pb(job) for job in page.items], next_page_token=page.next_page_token
        )

    def CancelIngestJob(
        self, request: pb.CancelIngestJobRequest, context: grpc.ServicerContext
    ) -> pb.CancelIngestJobResponse:
        require_admin()
        return pb.CancelIngestJobResponse(job=job_to_pb(self._usecases.cancel(parse_id(request.job_id, "job_id"))))

    def WatchIngestJob(  # type: ignore[override]  # grpc's non-blocking form: a send callback, no iterator
        self,
        request: pb.WatchIngestJobRequest,
        context: grpc.ServicerContext,
        send: Callable[[pb.WatchIngestJobResponse | None], None],
    ) -> None:
        """Non-blocking: returns at once, the job's states are sent as they change (no thread held)."""
        identity = require_admin()

        def deliver(job: Job) -> None:
            send(pb.WatchIngestJobResponse(job=job_to_pb(job)))

        def finish(error: ServiceError | None) -> None:
            end_stream(context, send, error)

        stop = self._usecases.watch(parse_id(request.job_id, "job_id"), identity.user_id, deliver, finish)
        if not context.add_callback(stop):  # the call already ended
            stop()

    WatchIngestJob.experimental_non_blocking = True  # type: ignore[attr-defined]
