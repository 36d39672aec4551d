"""The interceptor's checks of request bytes, in isolation: which field holds a NUL or bytes that are
not UTF-8, and what an undecodable request is told."""

from __future__ import annotations

from google.protobuf import struct_pb2

from common.interceptor import MALFORMED_REQUEST, invalid_utf8_path, nul_violations, undecodable
from teaching.content.v1 import content_service_pb2 as content_pb
from teaching.user.v1 import user_service_pb2 as user_pb

MARKER = "QZXMARKQZX"


def _with_invalid_utf8(message: object) -> bytes:
    data: bytes = message.SerializeToString()  # type: ignore[attr-defined]
    assert data.count(MARKER.encode()) == 1
    return data.replace(MARKER.encode(), b"\xff" * len(MARKER))


def test_nul_is_found_at_any_depth_with_its_path() -> None:
    request = user_pb.UpdateArtifactRequest(artifact=user_pb.ClassArtifact(
        title="ok", quiz=user_pb.Quiz(questions=[
            user_pb.QuizQuestion(prompt="fine"), user_pb.QuizQuestion(prompt="p", choices=["a", "b\x00"]),
        ]),
    ))
    request.update_mask.paths.append("ti\x00tle")
    assert nul_violations(request) == {
        "artifact.quiz.questions[1].choices[1]": "must not contain NUL characters",
        "update_mask.paths[0]": "must not contain NUL characters",
    }


def test_nul_in_map_keys_and_values_is_found() -> None:
    value = struct_pb2.Struct()
    value["clean"] = "yes"
    value["dirty"] = "no\x00"
    assert list(nul_violations(value)) == ["fields['dirty'].string_value"]


def test_clean_requests_have_no_violations() -> None:
    assert nul_violations(content_pb.SearchContentRequest(query="fractions ½ 漢字 ok", book_ids=["x"])) == {}


def test_invalid_utf8_is_located_in_nested_and_repeated_fields() -> None:
    top = content_pb.SearchContentRequest(query=MARKER)
    repeated = content_pb.SearchContentRequest(query="ok", book_ids=["a", MARKER])
    nested = content_pb.CreatePedagogyStrategyRequest(
        strategy=content_pb.PedagogyStrategy(name="n", tags=["t", MARKER]))
    descriptor = content_pb.SearchContentRequest.DESCRIPTOR
    assert invalid_utf8_path(_with_invalid_utf8(top), descriptor) == "query"
    assert invalid_utf8_path(_with_invalid_utf8(repeated), descriptor) == "book_ids[1]"
    assert invalid_utf8_path(_with_invalid_utf8(nested), nested.DESCRIPTOR) == "strategy.tags[1]"


def test_undecodable_requests_say_why() -> None:
    descriptor = content_pb.GetBookRequest.DESCRIPTOR
    garbage = undecodable(b"\xff\xff\xff\xff", descriptor)
    assert garbage.reason == MALFORMED_REQUEST and garbage.violations == {}
    assert "teaching.content.v1.GetBookRequest" in garbage.message
    not_utf8 = undecodable(_with_invalid_utf8(content_pb.GetBookRequest(book_id=MARKER)), descriptor)
    assert not_utf8.violations == {"book_id": "is not valid UTF-8"}
