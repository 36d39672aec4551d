"""Reflection through the front lists and describes the whole suite, for real reflection clients:
the buf CLI (gRPC and gRPC-Web) and the v1alpha protocol grpcurl speaks."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from devstack import Stack

BUF = Path(sys.executable).parent / "buf"
SUITE = {"teaching.content.v1.ContentService", "teaching.user.v1.UserService", "teaching.ingest.v1.IngestService"}
# buf curl's flags for plain gRPC over cleartext HTTP/2, and for gRPC-Web (HTTP/1.1) as browsers send it.
PROTOCOLS = {"grpc": ["--protocol", "grpc", "--http2-prior-knowledge"], "grpcweb": ["--protocol", "grpcweb"]}


def buf_curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BUF), "curl", *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_buf_curl_lists_every_service_through_the_front(stack: Stack, protocol: str) -> None:
    result = buf_curl(*PROTOCOLS[protocol], "--list-services", f"http://{stack.address('envoy')}")
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) >= SUITE, result.stdout


@pytest.mark.parametrize(("method", "body", "role", "key"), [
    ("teaching.content.v1.ContentService/ListPedagogyStrategies", {}, "teacher", "strategies"),
    ("teaching.user.v1.UserService/GetProfile", {}, "teacher", "profile"),
    ("teaching.ingest.v1.IngestService/ListIngestJobs", {"pageSize": 1}, "admin", None),
], ids=["content", "user", "ingest"])
def test_buf_curl_calls_every_service_through_the_front_by_reflection(
    stack: Stack, make_token: Callable[..., str], method: str, body: dict[str, object], role: str, key: str | None
) -> None:
    token = make_token(f"buf-{uuid.uuid4().hex[:8]}", role)
    result = buf_curl(*PROTOCOLS["grpc"], "-H", f"authorization: Bearer {token}", "--data", json.dumps(body),
                      f"http://{stack.address('envoy')}/{method}")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout or "{}")
    if key is not None:
        assert key in answer, answer


def test_a_call_without_token_fails_by_reflection_too(stack: Stack) -> None:
    # The descriptors resolve (reflection needs no token) and the call itself is refused.
    result = buf_curl(*PROTOCOLS["grpc"], "--data", "{}",
                      f"http://{stack.address('envoy')}/teaching.user.v1.UserService/GetProfile")
    assert result.returncode != 0
    assert "unauthenticated" in result.stderr.lower(), result.stderr


def _reflect(address: str, *requests: reflection_pb2.ServerReflectionRequest) -> list[Any]:
    with grpc.insecure_channel(address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        return list(stub.ServerReflectionInfo(iter(requests), timeout=15))


def test_v1alpha_reflection_as_grpcurl_uses_it(stack: Stack) -> None:
    # grpcurl's `list` and `describe`: list_services, then file_containing_symbol for each service.
    listed = _reflect(stack.address("envoy"), reflection_pb2.ServerReflectionRequest(list_services=""))
    names = {service.name for service in listed[0].list_services_response.service}
    assert SUITE | {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} == names
    answers = _reflect(stack.address("envoy"), *(
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=name) for name in sorted(SUITE)))
    files = {descriptor_pb2.FileDescriptorProto.FromString(blob).name
             for answer in answers for blob in answer.file_descriptor_response.file_descriptor_proto}
    assert {"teaching/content/v1/content_service.proto", "teaching/ingest/v1/ingest_service.proto",
            "teaching/user/v1/user_service.proto"} <= files


@pytest.mark.parametrize("name", ["content", "user", "ingest"])
def test_each_service_port_lists_only_its_own_service(stack: Stack, name: str) -> None:
    # Direct connections are not the front: a server claims only what it serves.
    listed = _reflect(stack.address(name), reflection_pb2.ServerReflectionRequest(list_services=""))
    ours = {service.name for service in listed[0].list_services_response.service} & SUITE
    assert ours == {f"teaching.{name}.v1.{name.capitalize()}Service"}
