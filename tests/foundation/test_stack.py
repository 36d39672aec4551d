"""The foundation: every service serves health and reflection, and authenticates every call."""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
import jwt
import pytest
from google.protobuf.descriptor import MethodDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from pydantic import SecretStr

from common.auth import mint_token
from devstack import Stack
from teaching.content.v1 import content_service_pb2
from teaching.ingest.v1 import ingest_service_pb2
from teaching.user.v1 import user_service_pb2

SERVICES = {
    "content": "teaching.content.v1.ContentService",
    "user": "teaching.user.v1.UserService",
    "ingest": "teaching.ingest.v1.IngestService",
}


@pytest.mark.parametrize("overall", [True, False], ids=["overall", "service name"])
@pytest.mark.parametrize("name", sorted(SERVICES))
def test_health_serving_for_overall_and_service_name(stack: Stack, name: str, overall: bool) -> None:
    with grpc.insecure_channel(stack.address(name)) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        service = "" if overall else SERVICES[name]
        response = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert response.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_health_of_an_unknown_service_is_not_found(stack: Stack, name: str) -> None:
    with grpc.insecure_channel(stack.address(name)) as channel:
        with pytest.raises(grpc.RpcError) as error:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="no.such.Service"),
                                                      timeout=5)
        assert error.value.code() == grpc.StatusCode.NOT_FOUND


DEPENDENCIES = {
    "content": {"db_content", "redis"},
    "user": {"db_user", "content_service"},
    "ingest": {"db_content", "object_storage", "broker"},
}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_readiness_lists_every_dependency(stack: Stack, name: str) -> None:
    """grpc.health.v1 List: the overall status, the service's, and one `dependency/<name>` each."""
    with grpc.insecure_channel(stack.address(name)) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        statuses = {service: response.status for service, response
                    in health.List(health_pb2.HealthListRequest(), timeout=5).statuses.items()}
        expected = {"", SERVICES[name], *(f"dependency/{d}" for d in DEPENDENCIES[name])}
        assert statuses == dict.fromkeys(expected, health_pb2.HealthCheckResponse.SERVING)
        for dependency in DEPENDENCIES[name]:
            response = health.Check(health_pb2.HealthCheckRequest(service=f"dependency/{dependency}"), timeout=5)
            assert response.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_reflection_lists_services_without_a_token(stack: Stack, name: str) -> None:
    with grpc.insecure_channel(stack.address(name)) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        listed = {s.name for r in responses for s in r.list_services_response.service}
    assert SERVICES[name] in listed
    assert "grpc.health.v1.Health" in listed


def _call_list_books(stack: Stack, metadata: list[tuple[str, str]] | None) -> grpc.RpcError | None:
    with grpc.insecure_channel(stack.address("content")) as channel:
        call = channel.unary_unary(
            "/teaching.content.v1.ContentService/ListBooks",
            request_serializer=content_service_pb2.ListBooksRequest.SerializeToString,
            response_deserializer=content_service_pb2.ListBooksResponse.FromString,
        )
        try:
            call(content_service_pb2.ListBooksRequest(), metadata=metadata, timeout=10)
        except grpc.RpcError as error:
            return error
    return None


def _bad_tokens(stack: Stack) -> dict[str, tuple[list[tuple[str, str]] | None, str]]:
    settings = stack.settings
    secret = settings.jwt_secret.get_secret_value()
    now = int(time.time())
    base = {"iss": settings.jwt_issuer, "aud": settings.jwt_audience, "iat": now, "exp": now + 60}
    # An hour past exp: well beyond the leeway for clock skew.
    expired = jwt.encode({**base, "sub": "t1", "iat": now - 7200, "exp": now - 3600}, secret, algorithm="HS256")
    no_subject = jwt.encode({**base, "roles": ["teacher"]}, secret, algorithm="HS256")
    wrong_key = jwt.encode({**base, "sub": "t1"}, "not-the-suite-secret-but-long-enough-000", algorithm="HS256")
    return {
        "missing": (None, "missing credentials"),
        "not bearer": ([("authorization", "Basic dTpw")], "malformed authorization header"),
        "not a jwt": ([("authorization", "Bearer not.a.jwt")], "malformed token"),
        "bad signature": ([("authorization", f"Bearer {wrong_key}")], "bad token signature"),
        "expired": ([("authorization", f"Bearer {expired}")], "token expired"),
        "no subject": ([("authorization", f"Bearer {no_subject}")], "no subject"),
    }


@pytest.mark.parametrize("case", ["missing", "not bearer", "not a jwt", "bad signature", "expired", "no subject"])
def test_calls_without_a_valid_token_are_unauthenticated_with_a_reason(stack: Stack, case: str) -> None:
    metadata, reason = _bad_tokens(stack)[case]
    error = _call_list_books(stack, metadata)
    assert error is not None
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert reason in (error.details() or "")


MODULES = {"content": content_service_pb2, "user": user_service_pb2, "ingest": ingest_service_pb2}
# Every RPC of every service, from the descriptors: a new RPC is covered without editing this file.
RPCS = [
    (name, method)
    for name, module in MODULES.items()
    for method in module.DESCRIPTOR.services_by_name[SERVICES[name].rsplit(".", 1)[1]].methods
]
RPC_IDS = [f"{name}.{method.name}" for name, method in RPCS]


def _call_with_an_empty_request(
    stack: Stack, name: str, method: MethodDescriptor, metadata: list[tuple[str, str]] | None
) -> grpc.RpcError | None:
    path = f"/{method.containing_service.full_name}/{method.name}"
    with grpc.insecure_channel(stack.address(name)) as channel:
        try:
            if method.client_streaming:
                channel.stream_unary(path)(iter([b""]), metadata=metadata, timeout=10)
            elif method.server_streaming:
                list(channel.unary_stream(path)(b"", metadata=metadata, timeout=10))
            else:
                channel.unary_unary(path)(b"", metadata=metadata, timeout=10)
        except grpc.RpcError as error:
            return error
    return None


@pytest.mark.parametrize(("name", "method"), RPCS, ids=RPC_IDS)
def test_every_rpc_of_every_service_requires_a_token(stack: Stack, name: str, method: MethodDescriptor) -> None:
    error = _call_with_an_empty_request(stack, name, method, None)
    assert error is not None, "answered without a token"
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED, error.details()


def _token_with_roles(stack: Stack, roles: list[str] | None) -> str:
    settings, now = stack.settings, int(time.time())
    claims: dict[str, object] = {"sub": "t-roleless", "iat": now, "exp": now + 600, "iss": settings.jwt_issuer,
                                 "aud": settings.jwt_audience}
    if roles is not None:
        claims["roles"] = roles
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")


@pytest.mark.parametrize("roles", [None, [], ["superuser"]], ids=["no roles claim", "empty roles", "unknown role"])
@pytest.mark.parametrize(("name", "method"), RPCS, ids=RPC_IDS)
def test_every_rpc_refuses_a_valid_token_without_a_known_role(
    stack: Stack, name: str, method: MethodDescriptor, roles: list[str] | None
) -> None:
    metadata = [("authorization", f"Bearer {_token_with_roles(stack, roles)}")]
    error = _call_with_an_empty_request(stack, name, method, metadata)
    assert error is not None, "answered a caller without the teacher or admin role"
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED, error.details()


def test_a_valid_token_is_accepted(stack: Stack, make_token: Callable[..., str]) -> None:
    assert _call_list_books(stack, [("authorization", f"Bearer {make_token('t-accepted', 'teacher')}")]) is None


def test_tokens_minted_for_another_secret_are_refused(stack: Stack) -> None:
    other = stack.settings.model_copy(update={"jwt_secret": SecretStr("another-secret-another-secret-0123456789")})
    token = mint_token(other, "t1", ["admin"])
    error = _call_list_books(stack, [("authorization", f"Bearer {token}")])
    assert error is not None and error.code() == grpc.StatusCode.UNAUTHENTICATED
