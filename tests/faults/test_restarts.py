"""Disruptive: a service stopped with SIGTERM comes back; after a Postgres restart acknowledged writes
survive and the services reconnect by themselves."""

from __future__ import annotations

import signal

import grpc
import psycopg

from devstack import Stack
from teaching.content.v1 import content_service_pb2, content_service_pb2_grpc


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
    from teaching.ingest.v1 import ingest_service_pb2, ingest_service_pb2_grpc
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
