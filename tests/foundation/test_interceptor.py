"""The shared interceptor in a bare grpc server over a socket (pytest-grpc fixtures): domain errors
become gRPC statuses with google.rpc details, and handlers see the verified caller. (Streaming
handlers are covered through IngestService.WatchIngestJob in tests/ingest.)"""

from __future__ import annotations

import secrets
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from pydantic import SecretStr

from common.auth import TokenVerifier, current_identity, mint_token, require_admin
from common.errors import Aborted, InvalidArgument, NotFound
from common.interceptor import AuthInterceptor
from common.settings import Settings
from teaching.user.v1 import user_service_pb2 as pb
from teaching.user.v1 import user_service_pb2_grpc

SETTINGS = Settings(jwt_secret=SecretStr(secrets.token_urlsafe(32)))


class ProbeServicer(user_service_pb2_grpc.UserServiceServicer):
    """Each RPC exercises one path of the interceptor."""

    def GetProfile(self, request: pb.GetProfileRequest, context: Any) -> pb.GetProfileResponse:
        return pb.GetProfileResponse(profile=pb.TeacherProfile(user_id=current_identity().user_id))

    def GetArtifact(self, request: pb.GetArtifactRequest, context: Any) -> pb.GetArtifactResponse:
        raise NotFound("artifact", request.artifact_id)

    def CreateArtifact(self, request: pb.CreateArtifactRequest, context: Any) -> pb.CreateArtifactResponse:
        raise InvalidArgument({"artifact.title": "must not be empty", "artifact.kind": "must be set"})

    def DeleteArtifact(self, request: pb.DeleteArtifactRequest, context: Any) -> pb.DeleteArtifactResponse:
        require_admin()
        return pb.DeleteArtifactResponse()

    def ListArtifactRevisions(self, request: Any, context: Any) -> Any:
        raise Aborted("etag is stale")


@pytest.fixture(scope="module")
def grpc_add_to_server() -> Any:
    return user_service_pb2_grpc.add_UserServiceServicer_to_server


@pytest.fixture(scope="module")
def grpc_servicer() -> ProbeServicer:
    return ProbeServicer()


@pytest.fixture(scope="module")
def grpc_stub_cls() -> Any:
    return user_service_pb2_grpc.UserServiceStub


@pytest.fixture(scope="module")
def grpc_interceptors() -> list[Any]:
    return [AuthInterceptor(TokenVerifier(SETTINGS))]


def bearer(user: str, *roles: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {mint_token(SETTINGS, user, roles or ('teacher',))}")]


def test_handler_sees_the_verified_caller(grpc_stub: Any) -> None:
    response = grpc_stub.GetProfile(pb.GetProfileRequest(), metadata=bearer("teacher-7"))
    assert response.profile.user_id == "teacher-7"


def test_invalid_argument_carries_field_violations(grpc_stub: Any) -> None:
    with pytest.raises(grpc.RpcError) as error:
        grpc_stub.CreateArtifact(pb.CreateArtifactRequest(), metadata=bearer("t"))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(error.value)
    assert status is not None
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    assert {v.field for v in bad_request.field_violations} == {"artifact.title", "artifact.kind"}


def test_not_found_carries_resource_info(grpc_stub: Any) -> None:
    with pytest.raises(grpc.RpcError) as error:
        grpc_stub.GetArtifact(pb.GetArtifactRequest(artifact_id="a-1"), metadata=bearer("t"))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    status = rpc_status.from_call(error.value)
    assert status is not None
    info = error_details_pb2.ResourceInfo()
    assert status.details[0].Unpack(info)
    assert (info.resource_type, info.resource_name) == ("artifact", "a-1")


def test_admin_only_operations_refuse_teachers(grpc_stub: Any) -> None:
    with pytest.raises(grpc.RpcError) as error:
        grpc_stub.DeleteArtifact(pb.DeleteArtifactRequest(), metadata=bearer("t", "teacher"))
    assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED
    grpc_stub.DeleteArtifact(pb.DeleteArtifactRequest(), metadata=bearer("boss", "admin"))


def test_aborted_maps_to_aborted(grpc_stub: Any) -> None:
    with pytest.raises(grpc.RpcError) as error:
        grpc_stub.ListArtifactRevisions(pb.ListArtifactRevisionsRequest(), metadata=bearer("t"))
    assert error.value.code() == grpc.StatusCode.ABORTED


def test_unknown_roles_are_dropped(grpc_stub: Any) -> None:
    with pytest.raises(grpc.RpcError) as error:
        grpc_stub.DeleteArtifact(pb.DeleteArtifactRequest(), metadata=bearer("t", "superuser"))
    assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED
