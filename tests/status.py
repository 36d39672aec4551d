"""What every test of a refusal checks the same way: the status code and its field violations."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status


def field_violations(error: grpc.RpcError) -> dict[str, str]:
    """The BadRequest field violations of an INVALID_ARGUMENT error (fails the test when there are none)."""
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "INVALID_ARGUMENT without google.rpc.Status details"
    violations: dict[str, str] = {}
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations.update({v.field: v.description for v in bad.field_violations})
    assert violations, "INVALID_ARGUMENT without BadRequest field violations"
    return violations


def expect_error(code: grpc.StatusCode, call: Any, *args: Any, **kwargs: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(*args, **kwargs)
    assert info.value.code() == code, f"expected {code}, got {info.value.code()}: {info.value.details()}"
    return info.value
