"""The one mapping from the error vocabulary (common.errors) to gRPC statuses with google.rpc details.

Every status carries an ErrorInfo (reason, domain) as AIP-193 asks; bad input adds a BadRequest with
one field violation per field, a missing resource a ResourceInfo, a typed precondition a
PreconditionFailure.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2, message
from google.rpc import error_details_pb2, status_pb2
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


def status_code(error: ServiceError) -> grpc.StatusCode:
    for error_type in type(error).__mro__:
        if error_type in CODES:
            return CODES[error_type]  # type: ignore[index]
    return grpc.StatusCode.INTERNAL


def _details(error: ServiceError) -> list[message.Message]:
    details: list[message.Message] = []
    if isinstance(error, InvalidArgument):
        details.append(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=field, description=why)
            for field, why in error.violations.items()
        ]))
    elif isinstance(error, NotFound):
        details.append(error_details_pb2.ResourceInfo(
            resource_type=error.resource_type, resource_name=error.resource_name
        ))
    elif isinstance(error, FailedPrecondition) and error.violation_type:
        details.append(error_details_pb2.PreconditionFailure(violations=[
            error_details_pb2.PreconditionFailure.Violation(
                type=error.violation_type, subject=error.subject, description=error.message
            )
        ]))
    details.append(error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN))
    return details


def to_status(error: ServiceError) -> grpc.Status:
    code = status_code(error)
    proto = status_pb2.Status(code=code.value[0], message=error.message)
    for detail in _details(error):
        packed = any_pb2.Any()
        packed.Pack(detail)
        proto.details.append(packed)
    return rpc_status.to_status(proto)
