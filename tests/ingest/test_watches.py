"""WatchIngestJob at scale (issue 13 item 8): streams hold no thread, so 200 open watches leave the
service answering; each caller may hold a bounded number; every stream ends with its job."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common.settings import Settings
from devstack import Stack
from teaching.ingest.v1 import ingest_service_pb2 as pb
from teaching.ingest.v1 import ingest_service_pb2_grpc
from tests.ingest.helpers import HeldJob, unique_copy, upload, wait_for
from tests.reliability.rpcs import error_info

Auth = Callable[..., list[tuple[str, str]]]
PER_CALLER = Settings.model_fields["watch_max_per_caller"].default
WATCHES = 200


@pytest.fixture
def held_job(stack: Stack, ingest_stub: ingest_service_pb2_grpc.IngestServiceStub, auth: Auth,
             corpus: Path) -> Iterator[tuple[pb.IngestJob, HeldJob]]:
    """A job kept RUNNING (held after its first page range) until the test releases it."""
    data = unique_copy((corpus / "multipage.pdf").read_bytes())
    admin = auth(f"watch-owner-{uuid.uuid4().hex[:8]}", "admin")
    with HeldJob(stack, data) as hold:
        job = upload(ingest_stub, admin, data, "Watched").job
        hold.wait_until_held()
        yield job, hold


def _threads(stack: Stack) -> int:
    return len(os.listdir(f"/proc/{stack._procs['ingest'].pid}/task"))


def _watch(channel: grpc.Channel, job_id: str, admin: list[tuple[str, str]]) -> Any:
    stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
    return stub.WatchIngestJob(pb.WatchIngestJobRequest(job_id=job_id), metadata=admin, timeout=120)


def test_200_open_watches_leave_the_service_answering_and_all_end_with_the_job(
    stack: Stack, ingest_stub: ingest_service_pb2_grpc.IngestServiceStub, auth: Auth,
    held_job: tuple[pb.IngestJob, HeldJob],
) -> None:
    job, hold = held_job
    callers = [auth(f"watcher-{index}-{uuid.uuid4().hex[:6]}", "admin") for index in range(-(-WATCHES // PER_CALLER))]
    threads_before = _threads(stack)
    with ExitStack() as resources:
        channels = [resources.enter_context(grpc.insecure_channel(stack.address("ingest"))) for _ in callers]
        streams = []
        for index in range(WATCHES):
            stream = _watch(channels[index // PER_CALLER], job.job_id, callers[index // PER_CALLER])
            assert next(stream).job.state == pb.INGEST_JOB_STATE_RUNNING  # open, and answered
            streams.append(stream)
        # No thread per stream: the process grew by a handful of threads at most, not by 200.
        assert _threads(stack) - threads_before < 20
        admin = callers[0]
        got = ingest_stub.GetIngestJob(pb.GetIngestJobRequest(job_id=job.job_id), metadata=admin, timeout=5).job
        assert got.state == pb.INGEST_JOB_STATE_RUNNING
        with grpc.insecure_channel(stack.address("ingest")) as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING

        hold.release()
        for stream in streams:
            last = list(stream)[-1].job  # the stream ends by itself after the job's terminal state
            assert last.state == pb.INGEST_JOB_STATE_SUCCEEDED, last.error_message


def test_a_caller_beyond_its_cap_gets_resource_exhausted(
    stack: Stack, auth: Auth, held_job: tuple[pb.IngestJob, HeldJob],
) -> None:
    job, _hold = held_job
    admin = auth(f"greedy-{uuid.uuid4().hex[:8]}", "admin")
    with grpc.insecure_channel(stack.address("ingest")) as channel:
        streams = [_watch(channel, job.job_id, admin) for _ in range(PER_CALLER)]
        for stream in streams:
            next(stream)
        with pytest.raises(grpc.RpcError) as refused:
            next(_watch(channel, job.job_id, admin))
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        info = error_info(refused.value)
        assert info is not None and info.reason == "TOO_MANY_WATCHES"
        # Another caller is not affected, and closing a stream makes room again.
        other = auth(f"modest-{uuid.uuid4().hex[:8]}", "admin")
        assert next(_watch(channel, job.job_id, other)).job.job_id == job.job_id
        streams.pop().cancel()

        def reopened() -> bool:
            try:
                next(_watch(channel, job.job_id, admin))
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                return False
            return True

        wait_for(reopened, "room for one more watch after closing one", timeout=10)
        for stream in streams:
            stream.cancel()
