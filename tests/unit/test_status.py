"""common.status: every status carries an ErrorInfo, and what it echoes is clipped to a small size."""

from __future__ import annotations

from typing import TypeVar

import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from common.errors import InvalidArgument, NotFound, PermissionDenied
from common.status import (
    ERROR_DOMAIN,
    FIELD_MAX_BYTES,
    MAX_FIELD_VIOLATIONS,
    MESSAGE_MAX_BYTES,
    clip,
    internal_status,
    to_status,
)

M = TypeVar("M", bound=Message)


def _decoded(status: grpc.Status) -> status_pb2.Status:
    details = dict(status.trailing_metadata)["grpc-status-details-bin"]
    return status_pb2.Status.FromString(details)


def _detail(status: status_pb2.Status, kind: type[M]) -> M:
    for detail in status.details:
        if detail.Is(kind.DESCRIPTOR):
            found = kind()
            detail.Unpack(found)
            return found
    raise AssertionError(f"no {kind.__name__} in {status}")


@pytest.mark.parametrize("text, budget", [("x" * 1000, 100), ("é" * 1000, 101), ("漢" * 500, 64), ("short", 100)],
                         ids=["ascii", "two-byte", "three-byte", "under-budget"])
def test_clip_keeps_whole_characters_within_the_byte_budget(text: str, budget: int) -> None:
    clipped = clip(text, budget)
    assert len(clipped.encode()) <= budget
    assert text.startswith(clipped.removesuffix("…"))
    assert (clipped == text) == (len(text.encode()) <= budget)


@pytest.mark.parametrize("error", [
    InvalidArgument({"update_mask": "x" * 1_000_000}),
    InvalidArgument({"y" * 1_000_000: "bad"}),
    InvalidArgument({f"book_ids[{i}]": f"'{'é' * 100}' must be a UUID" for i in range(10_000)}),
    NotFound("artifact", "z" * 1_000_000),
    PermissionDenied("w" * 1_000_000),
], ids=["long-description", "long-field-path", "many-violations", "long-resource-name", "long-message"])
def test_a_status_stays_small_whatever_the_error_echoes(error: Exception) -> None:
    status = to_status(error)  # type: ignore[arg-type]
    encoded = sum(len(key) + len(value) for key, value in status.trailing_metadata)
    assert encoded < 5 * 1024
    assert len(status.details.encode()) <= MESSAGE_MAX_BYTES
    decoded = _decoded(status)
    info = _detail(decoded, error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain) == (error.reason, ERROR_DOMAIN)  # type: ignore[attr-defined]


def test_dropped_violations_are_counted() -> None:
    status = _decoded(to_status(InvalidArgument({f"f{i}": "bad" for i in range(20)})))
    bad_request = _detail(status, error_details_pb2.BadRequest)
    violations = bad_request.field_violations
    assert len(violations) == MAX_FIELD_VIOLATIONS
    assert all(len(v.field.encode()) <= FIELD_MAX_BYTES for v in violations)
    assert "12 more" in violations[-1].description


def test_internal_status_says_nothing_but_the_error_id() -> None:
    status = internal_status("0123abcd")
    assert status.code == grpc.StatusCode.INTERNAL
    assert "0123abcd" in status.details
    decoded = _decoded(status)
    assert _detail(decoded, error_details_pb2.RequestInfo).request_id == "0123abcd"
    assert _detail(decoded, error_details_pb2.ErrorInfo).reason == "INTERNAL"
