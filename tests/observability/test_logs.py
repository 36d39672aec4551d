"""Logs are JSON lines with the call's trace id and the caller's hashed user id, one access line per RPC,
and never a bearer token or a page token (docs/operations.md)."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from common import logs
from devstack import Stack
from teaching.user.v1 import user_service_pb2 as user_pb
from teaching.user.v1 import user_service_pb2_grpc
from tests.envoy.web import http_request
from tests.observability.support import log_lines
from tests.user.support import lesson_plan

OUR_PROCESSES = ("content", "user", "ingest", "reflection", "worker")
REQUIRED = {"time", "level", "service", "logger", "message"}


def access_lines(stack: Stack, name: str, trace_id: str, timeout: float = 10) -> list[dict[str, Any]]:
    """The access lines process `name` wrote for calls of trace `trace_id` (waiting for the write)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [record for record in map(json.loads, log_lines(stack, name))
                 if record["logger"] == "access" and record.get("trace_id") == trace_id]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def traceparent() -> tuple[str, str]:
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-01"


@pytest.mark.parametrize("name", OUR_PROCESSES)
def test_every_line_our_processes_write_is_json(stack: Stack, name: str) -> None:
    lines = log_lines(stack, name)
    assert lines, f"{name} logged nothing"
    for line in lines:
        record = json.loads(line)
        assert record.keys() >= REQUIRED, line


def test_a_call_through_envoy_writes_one_access_line_with_its_trace_id(
    stack: Stack, make_token: Callable[..., str]
) -> None:
    user_id = f"logs-{uuid.uuid4().hex[:8]}"
    trace_id, header = traceparent()
    reply = http_request(stack.address("envoy"), "GET", "/v1/profile", token=make_token(user_id),
                         headers={"traceparent": header})
    assert reply.status == 200, reply.body
    [line] = access_lines(stack, "user", trace_id)
    assert line["service"] == "UserService"
    assert line["method"] == "/teaching.user.v1.UserService/GetProfile"
    assert line["status"] == "OK"
    assert line["level"] == "INFO"
    assert line["duration_ms"] > 0
    assert line["user"] == logs_user_hash(stack, user_id)
    assert user_id not in json.dumps(line)


def logs_user_hash(stack: Stack, user_id: str) -> str:
    logs.set_user_key(stack.settings)
    return logs.hashed_user(user_id)


def test_a_call_without_a_traceparent_still_has_a_trace_id_of_its_own(
    stack: Stack, auth: Callable[..., list[tuple[str, str]]]
) -> None:
    user_id = f"logs-{uuid.uuid4().hex[:8]}"
    with grpc.insecure_channel(stack.address("user")) as channel:
        user_service_pb2_grpc.UserServiceStub(channel).GetProfile(user_pb.GetProfileRequest(), metadata=auth(user_id))
    hashed = logs_user_hash(stack, user_id)
    deadline = time.monotonic() + 10
    while not (mine := [json.loads(line) for line in log_lines(stack, "user") if hashed in line]):
        assert time.monotonic() < deadline, "no access line for the call"
        time.sleep(0.1)
    [line] = mine
    assert len(line["trace_id"]) == 32 and int(line["trace_id"], 16) != 0


def test_no_bearer_token_or_page_token_reaches_any_log(stack: Stack, make_token: Callable[..., str]) -> None:
    user_id = f"logs-{uuid.uuid4().hex[:8]}"
    token = make_token(user_id)
    metadata = [("authorization", f"Bearer {token}")]
    trace_id, header = traceparent()
    metadata.append(("traceparent", header))
    with grpc.insecure_channel(stack.address("user")) as channel:
        stub = user_service_pb2_grpc.UserServiceStub(channel)
        for index in range(3):
            stub.CreateArtifact(user_pb.CreateArtifactRequest(artifact=lesson_plan(f"plan {index}")),
                                metadata=metadata)
        page_token = stub.ListArtifacts(user_pb.ListArtifactsRequest(page_size=1), metadata=metadata).next_page_token
        assert page_token
        stub.ListArtifacts(user_pb.ListArtifactsRequest(page_size=1, page_token=page_token), metadata=metadata)
        tampered = page_token[:-4] + ("AAAA" if not page_token.endswith("AAAA") else "BBBB")
        with pytest.raises(grpc.RpcError) as refused:
            stub.ListArtifacts(user_pb.ListArtifactsRequest(page_token=tampered), metadata=metadata)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as unauthenticated:  # a token signed with another key
            stub.GetProfile(user_pb.GetProfileRequest(), metadata=[
                ("authorization", f"Bearer {token[:-8]}AAAAAAAA"), ("traceparent", header)])
        assert unauthenticated.value.code() == grpc.StatusCode.UNAUTHENTICATED
    reply = http_request(stack.address("envoy"), "GET", f"/v1/artifacts?pageSize=1&pageToken={page_token}",
                         token=token, headers={"traceparent": header})
    assert reply.status == 200, reply.body

    statuses = [line["status"] for line in access_lines(stack, "user", trace_id)]
    assert sorted(statuses) == sorted(["OK"] * 6 + ["INVALID_ARGUMENT", "UNAUTHENTICATED"])
    for log_file in stack.logs_dir.glob("*.log"):
        text = log_file.read_text(errors="replace")
        for secret in (token, token.split(".")[2], page_token, tampered):
            assert secret not in text, f"{log_file.name} holds a token"
