"""What a caller sees when a request carries bad bytes, when an answer would echo too much, and when a
service fails unexpectedly (issue 13 items 4 and 5): INVALID_ARGUMENT naming the field, a small
deliverable status, INTERNAL with an error id that the logs hold with the stack trace."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from pydantic import SecretStr

from common.auth import mint_token
from common.server import ServiceServer
from common.settings import Settings
from teaching.content.v1 import content_service_pb2 as content_pb
from teaching.ingest.v1 import ingest_service_pb2 as ingest_pb
from teaching.user.v1 import user_service_pb2 as user_pb
from tests.envoy.web import http_request
from tests.reliability.conftest import Teacher
from tests.reliability.rpcs import ERROR_DOMAIN, assert_json_error, error_info, raw_call
from tests.status import field_violations

Code = grpc.StatusCode


def _refused(call: Callable[..., Any], request: Any, teacher: Teacher) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        result = call(request, metadata=teacher.metadata, timeout=30)
        if isinstance(result, Iterator):
            list(result)
    error: grpc.RpcError = caught.value
    assert error.code() == Code.INVALID_ARGUMENT, error.details()
    return error


# -- bad bytes name the field (item 4) ------------------------------------------------------------------


def _own_private_strategies(teacher: Teacher) -> list[str]:
    listed = teacher.content.ListPedagogyStrategies(content_pb.ListPedagogyStrategiesRequest(
        scope=content_pb.PEDAGOGY_SCOPE_PRIVATE, page_size=200), metadata=teacher.metadata, timeout=15)
    return [s.strategy_id for s in listed.strategies]


def test_nul_in_a_nested_text_field_is_named_and_changes_nothing(new_teacher: Callable[..., Teacher]) -> None:
    teacher = new_teacher()
    before = _own_private_strategies(teacher)
    request = content_pb.CreatePedagogyStrategyRequest(strategy=content_pb.PedagogyStrategy(
        name="Jigsaw", tags=["groups", "pairs\x00"]))
    error = _refused(teacher.content.CreatePedagogyStrategy, request, teacher)
    assert field_violations(error) == {"strategy.tags[1]": "must not contain NUL characters"}
    assert _own_private_strategies(teacher) == before


def test_nul_in_upload_metadata_is_refused_before_the_upload(new_teacher: Callable[..., Teacher]) -> None:
    admin = new_teacher("admin")

    def upload() -> Iterator[ingest_pb.UploadBookRequest]:
        yield ingest_pb.UploadBookRequest(metadata=ingest_pb.UploadBookMetadata(title="Bad\x00title", filename="b.pdf"))
        yield ingest_pb.UploadBookRequest(chunk=b"%PDF-1.4 not really")

    error = _refused(admin.ingest.UploadBook, upload(), admin)
    assert field_violations(error) == {"metadata.title": "must not contain NUL characters"}


def test_a_string_that_is_not_utf8_is_named(new_teacher: Callable[..., Teacher],
                                            channels: dict[str, grpc.Channel]) -> None:
    teacher = new_teacher()
    marker = "QZXMARKQZX"
    data = content_pb.SearchContentRequest(query="fractions", book_ids=[marker]).SerializeToString()
    error = raw_call(channels["content"], "/teaching.content.v1.ContentService/SearchContent",
                     data.replace(marker.encode(), b"\xff" * len(marker)), teacher.metadata)
    assert error is not None and error.code() == Code.INVALID_ARGUMENT
    assert field_violations(error) == {"book_ids[0]": "is not valid UTF-8"}
    info = error_info(error)
    assert info is not None and (info.reason, info.domain) == ("MALFORMED_REQUEST", ERROR_DOMAIN)


def test_garbage_is_refused_with_the_expected_message_type(new_teacher: Callable[..., Teacher],
                                                           channels: dict[str, grpc.Channel]) -> None:
    teacher = new_teacher()
    error = raw_call(channels["user"], "/teaching.user.v1.UserService/GetArtifact", b"\x0a\xff\xff\xff\xff\xff",
                     teacher.metadata)
    assert error is not None and error.code() == Code.INVALID_ARGUMENT
    assert "teaching.user.v1.GetArtifactRequest" in (error.details() or "")


@pytest.mark.parametrize("path, field, why", [
    ("/v1/books/%ff%fe", "book_id", "is not valid UTF-8"),
    ("/v1/books/abc%00def", "book_id", "must not contain NUL characters"),
    ("/v1/artifacts?pageToken=%c3%28", "page_token", "is not valid UTF-8"),
], ids=["invalid-utf8-in-path", "nul-in-path", "invalid-utf8-in-query"])
def test_bad_bytes_in_a_json_url_are_a_400_naming_the_field(path: str, field: str, why: str, front: str,
                                                            new_teacher: Callable[..., Teacher]) -> None:
    reply = http_request(front, "GET", path, token=new_teacher().token)
    assert reply.status == 400, reply.body[:300]
    body = assert_json_error(reply)
    bad_request = next(d for d in body["details"] if d["@type"].endswith("google.rpc.BadRequest"))
    assert [(v["field"], v["description"]) for v in bad_request["fieldViolations"]] == [(field, why)]


# -- answers stay small whatever the request holds (item 5) ----------------------------------------------


@pytest.mark.parametrize("path", ["x" * 1_000_000, "é" * 400_000, "漢\x01" * 200_000],
                         ids=["1MB-ascii", "800KB-two-byte", "800KB-mixed"])
def test_a_huge_field_path_gets_a_small_invalid_argument(path: str, new_teacher: Callable[..., Teacher]) -> None:
    teacher = new_teacher()
    request = user_pb.UpdateProfileRequest(profile=user_pb.TeacherProfile(display_name="x"),
                                           update_mask=field_mask_pb2.FieldMask(paths=[path]))
    error = _refused(teacher.user.UpdateProfile, request, teacher)
    assert len((error.details() or "").encode()) <= 256
    assert set(field_violations(error)) == {"update_mask"}


def test_a_huge_page_token_gets_a_small_invalid_argument(new_teacher: Callable[..., Teacher]) -> None:
    teacher = new_teacher()
    error = _refused(teacher.content.ListBooks, content_pb.ListBooksRequest(page_token="t" * 1_000_000), teacher)
    assert len((error.details() or "").encode()) <= 256
    assert set(field_violations(error)) == {"page_token"}


def test_a_long_url_reaches_the_service_and_gets_a_small_json_400(front: str,
                                                                  new_teacher: Callable[..., Teacher]) -> None:
    """50 KB of update mask: under Envoy's 60 KiB header limit, and under what the services accept
    (Envoy forwards the URL twice); the answer echoes a clipped path."""
    reply = http_request(front, "PATCH", "/v1/profile?updateMask=" + "a" * 50_000, body={"displayName": "x"},
                         token=new_teacher().token)
    assert reply.status == 400, reply.body[:300]
    assert len(reply.body) < 2048
    assert assert_json_error(reply)["code"] == Code.INVALID_ARGUMENT.value[0]


# -- unexpected failures become INTERNAL with an error id (item 5) ---------------------------------------

SECRET = "password=hunter2"  # what an exception's text may hold: never sent to a caller


def _failing(request: Any, context: grpc.ServicerContext) -> Any:
    raise RuntimeError(f"connection string {SECRET} rejected")


def _failing_stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
    yield user_pb.GetProfileResponse()
    raise KeyError(SECRET)


def _failing_upload(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
    for _ in requests:
        pass
    raise ValueError(SECRET)


def _aborting(request: Any, context: grpc.ServicerContext) -> Any:
    context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")


@pytest.fixture
def faulty_server(unused_port: int) -> Iterator[tuple[str, Settings]]:
    """The real bootstrap (common.server, with the real interceptor) serving handlers that fail."""
    settings = Settings(jwt_secret=SecretStr("reliability-test-secret-" + "s" * 32), shutdown_grace_seconds=1)
    deserialize, serialize = user_pb.GetProfileRequest.FromString, user_pb.GetProfileResponse.SerializeToString
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(_failing, deserialize, serialize),
        "ServerStream": grpc.unary_stream_rpc_method_handler(_failing_stream, deserialize, serialize),
        "ClientStream": grpc.stream_unary_rpc_method_handler(_failing_upload, deserialize, serialize),
        "Aborts": grpc.unary_unary_rpc_method_handler(_aborting, deserialize, serialize),
    }

    def register(server: grpc.Server) -> None:
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Faulty", handlers)])

    server = ServiceServer(settings, port=unused_port, service_names=["test.Faulty"], register=register)
    server.start()
    yield f"127.0.0.1:{unused_port}", settings
    server.stop()


@pytest.mark.parametrize("method", ["Unary", "ServerStream", "ClientStream"])
def test_an_unexpected_exception_is_internal_with_an_error_id_in_the_logs(
        method: str, faulty_server: tuple[str, Settings], caplog: pytest.LogCaptureFixture) -> None:
    address, settings = faulty_server
    metadata = (("authorization", f"Bearer {mint_token(settings, 'someone', ['teacher'])}"),)
    request = user_pb.GetProfileRequest().SerializeToString()
    path = f"/test.Faulty/{method}"
    with grpc.insecure_channel(address) as channel, caplog.at_level(logging.ERROR, logger="common.interceptor"):
        error = raw_call(channel, path, request, metadata, client_streaming=method == "ClientStream",
                         server_streaming=method == "ServerStream")
    assert error is not None and error.code() == Code.INTERNAL
    details = error.details() or ""
    assert SECRET not in details and "Exception" not in details
    match = re.search(r"error id ([0-9a-f]{32})", details)
    assert match, details
    error_id = match.group(1)
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    request_info = error_details_pb2.RequestInfo()
    assert any(d.Unpack(request_info) for d in status.details if d.Is(request_info.DESCRIPTOR))
    assert request_info.request_id == error_id
    info = error_info(error)
    assert info is not None and (info.reason, info.domain) == ("INTERNAL", ERROR_DOMAIN)
    logged = [record for record in caplog.records if error_id in record.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None
    assert SECRET in caplog.text and "Traceback" in caplog.text and path in logged[0].getMessage()


def test_a_handler_that_aborts_keeps_its_status(faulty_server: tuple[str, Settings]) -> None:
    address, settings = faulty_server
    metadata = (("authorization", f"Bearer {mint_token(settings, 'someone', ['teacher'])}"),)
    with grpc.insecure_channel(address) as channel:
        error = raw_call(channel, "/test.Faulty/Aborts", user_pb.GetProfileRequest().SerializeToString(), metadata)
    assert error is not None and (error.code(), error.details()) == (Code.NOT_FOUND, "no such thing")
