"""The one mapping from the error vocabulary (common.errors) to gRPC statuses with google.rpc details.

Every status carries an ErrorInfo (reason, domain) as AIP-193 asks; bad input adds a BadRequest with
one field violation per field, a missing resource a ResourceInfo, a typed precondition a
PreconditionFailure, an unexpected failure a RequestInfo whose request_id is the error id in the logs.

What a status echoes from the request (field paths, values quoted in descriptions, resource names)
is clipped here: a status travels in the trailers, which clients cap at a few KiB (grpc's default
metadata limit is 8 KiB), so a 1 MB field path must still yield a small, deliverable status.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2, message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from common.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    ServiceError,
    Unauthenticated,
    Unavailable,
)

# ErrorInfo.domain: who produced the error (AIP-193), the same for the whole suite.
ERROR_DOMAIN = "teaching.suite"

# Budgets in UTF-8 bytes. Worst case (every violation at its limit, the message percent-encoded)
# the status stays under ~5 KiB of trailers.
MESSAGE_MAX_BYTES = 256
FIELD_MAX_BYTES = 128
DESCRIPTION_MAX_BYTES = 200
RESOURCE_NAME_MAX_BYTES = 128
MAX_FIELD_VIOLATIONS = 8
ELLIPSIS = "…"

CODES: dict[type[ServiceError], grpc.StatusCode] = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    Aborted: grpc.StatusCode.ABORTED,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
}


def clip(text: str, max_bytes: int) -> str:
    """`text` cut to at most `max_bytes` of UTF-8 (on a character boundary), marked with an ellipsis."""
    encoded = text.encode("utf-8", "replace")
    if len(encoded) <= max_bytes:
        return text
    room = max_bytes - len(ELLIPSIS.encode())
    return encoded[:room].decode("utf-8", "ignore") + ELLIPSIS


def status_code(error: ServiceError) -> grpc.StatusCode:
    for error_type in type(error).__mro__:
        if error_type in CODES:
            return CODES[error_type]  # type: ignore[index]
    return grpc.StatusCode.INTERNAL


def _bad_request(error: InvalidArgument) -> error_details_pb2.BadRequest:
    violations = list(error.violations.items())
    shown = violations[:MAX_FIELD_VIOLATIONS]
    if len(violations) > len(shown):
        # The last shown entry says how many more there were rather than silently dropping them.
        field, why = shown[-1]
        shown[-1] = (field, f"{clip(why, DESCRIPTION_MAX_BYTES // 2)} (and {len(violations) - len(shown)} more "
                            "violations not shown)")
    return error_details_pb2.BadRequest(field_violations=[
        error_details_pb2.BadRequest.FieldViolation(
            field=clip(field, FIELD_MAX_BYTES), description=clip(why, DESCRIPTION_MAX_BYTES)
        )
        for field, why in shown
    ])


def _details(error: ServiceError) -> list[message.Message]:
    details: list[message.Message] = []
    if isinstance(error, InvalidArgument):
        details.append(_bad_request(error))
    elif isinstance(error, NotFound):
        details.append(error_details_pb2.ResourceInfo(
            resource_type=error.resource_type, resource_name=clip(error.resource_name, RESOURCE_NAME_MAX_BYTES)
        ))
    elif isinstance(error, FailedPrecondition) and error.violation_type:
        details.append(error_details_pb2.PreconditionFailure(violations=[
            error_details_pb2.PreconditionFailure.Violation(
                type=error.violation_type, subject=clip(error.subject, FIELD_MAX_BYTES),
                description=clip(error.message, DESCRIPTION_MAX_BYTES),
            )
        ]))
    details.append(error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN))
    return details


def _status(code: int, text: str, details: list[message.Message]) -> grpc.Status:
    proto = status_pb2.Status(code=code, message=clip(text, MESSAGE_MAX_BYTES))
    for detail in details:
        packed = any_pb2.Any()
        packed.Pack(detail)
        proto.details.append(packed)
    return rpc_status.to_status(proto)


def to_status(error: ServiceError) -> grpc.Status:
    return _status(status_code(error).value[0], error.message, _details(error))


def internal_status(error_id: str) -> grpc.Status:
    """INTERNAL for an unexpected failure: nothing of the exception, only the id it was logged under."""
    return _status(
        code_pb2.INTERNAL,
        f"internal error; the service logged it with error id {error_id}",
        [error_details_pb2.RequestInfo(request_id=error_id),
         error_details_pb2.ErrorInfo(reason="INTERNAL", domain=ERROR_DOMAIN)],
    )
