"""Disruptive: a service stopped with SIGTERM comes back (its open watches told to watch again at
once); after a Postgres restart acknowledged writes survive and the services reconnect by themselves."""

from __future__ import annotations

import signal
from pathlib import Path

import grpc
import psycopg
import pytest

from devstack import Stack
from teaching.content.v1 import content_service_pb2, content_service_pb2_grpc
from teaching.ingest.v1 import ingest_service_pb2, ingest_service_pb2_grpc
from tests.ingest.helpers import HeldJob, unique_copy, upload, wait_terminal


def test_sigterm_stops_a_service_cleanly_and_it_comes_back(stack: Stack) -> None:
    proc = stack._procs["user"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    stack.stop_process("user")
    stack.start_process("user")
    assert "user" not in stack.dead_processes()


def test_postgres_restart_keeps_acknowledged_writes(stack: Stack) -> None:
    with psycopg.connect(stack.settings.user_conninfo(), autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS restart_probe (id int PRIMARY KEY)")
        conn.execute("INSERT INTO restart_probe VALUES (42) ON CONFLICT DO NOTHING")
    stack.restart_process("postgres")
    with psycopg.connect(stack.settings.user_conninfo(), autocommit=True) as conn:
        assert conn.execute("SELECT id FROM restart_probe").fetchall() == [(42,)]
        conn.execute("DROP TABLE restart_probe")


def test_services_answer_from_the_database_after_it_restarted(stack: Stack, auth) -> None:
    from teaching.user.v1 import user_service_pb2, user_service_pb2_grpc

    stack.restart_process("postgres")
    admin = auth("restart-admin", "admin")
    with grpc.insecure_channel(stack.address("content")) as channel:
        content_service_pb2_grpc.ContentServiceStub(channel).ListBooks(
            content_service_pb2.ListBooksRequest(), metadata=admin, timeout=10)
    with grpc.insecure_channel(stack.address("user")) as channel:
        profile = user_service_pb2_grpc.UserServiceStub(channel).GetProfile(
            user_service_pb2.GetProfileRequest(), metadata=admin, timeout=10).profile
        assert profile.user_id == "restart-admin"
    with grpc.insecure_channel(stack.address("ingest")) as channel:
        ingest_service_pb2_grpc.IngestServiceStub(channel).ListIngestJobs(
            ingest_service_pb2.ListIngestJobsRequest(), metadata=admin, timeout=10)


def test_sigterm_ends_open_watches_with_unavailable_at_once(stack: Stack, auth, corpus: Path) -> None:
    """Draining tells watchers to watch again (elsewhere) instead of holding them to the end of the grace."""
    admin = auth("drain-admin", "admin")
    data = unique_copy((corpus / "multipage.pdf").read_bytes())
    with HeldJob(stack, data) as hold, grpc.insecure_channel(stack.address("ingest")) as channel:
        stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
        job = upload(stub, admin, data, "Watched through a restart").job
        hold.wait_until_held()
        stream = stub.WatchIngestJob(ingest_service_pb2.WatchIngestJobRequest(job_id=job.job_id), metadata=admin,
                                     timeout=60)
        assert next(stream).job.state == ingest_service_pb2.INGEST_JOB_STATE_RUNNING
        stack._procs["ingest"].send_signal(signal.SIGTERM)
        with pytest.raises(grpc.RpcError) as ended:
            list(stream)
        assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "watch the job again" in (ended.value.details() or "")
    stack.stop_process("ingest")
    stack.start_process("ingest")
    with grpc.insecure_channel(stack.address("ingest")) as channel:
        stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
        assert wait_terminal(stub, admin, job.job_id).state == ingest_service_pb2.INGEST_JOB_STATE_SUCCEEDED
