"""The error vocabulary every layer raises: plain exceptions, no gRPC and no SQL.

Rules, use cases and repositories raise these; `common.status` is the one place that turns them
into gRPC statuses with google.rpc details (AIP-193), so handlers never build statuses by hand.
Each error carries a `reason` (UPPER_SNAKE_CASE, stable, for machines) next to its message (for people).
"""

from __future__ import annotations

from collections.abc import Mapping


class ServiceError(Exception):
    """Base class: an error the caller should see. Subclasses fix the status code (see common.status)."""

    reason = "INTERNAL"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason


class InvalidArgument(ServiceError):
    """Bad input: one violation per offending field (google.rpc.BadRequest)."""

    reason = "INVALID_ARGUMENT"

    def __init__(self, violations: Mapping[str, str], message: str | None = None, *, reason: str | None = None) -> None:
        self.violations = dict(violations)
        summary = "; ".join(f"{field}: {why}" for field, why in self.violations.items())
        super().__init__(message or f"invalid argument: {summary}", reason=reason)


class NotFound(ServiceError):
    """A resource the caller cannot see (missing, or someone else's: existence is not revealed)."""

    reason = "NOT_FOUND"

    def __init__(self, resource_type: str, resource_name: str) -> None:
        self.resource_type = resource_type
        self.resource_name = resource_name
        super().__init__(f"{resource_type} {resource_name!r} not found")


class AlreadyExists(ServiceError):
    reason = "ALREADY_EXISTS"


class PermissionDenied(ServiceError):
    reason = "PERMISSION_DENIED"


class Unauthenticated(ServiceError):
    reason = "UNAUTHENTICATED"


class Aborted(ServiceError):
    """A concurrency conflict, e.g. a stale etag: re-read and retry."""

    reason = "ABORTED"


class FailedPrecondition(ServiceError):
    """The system is not in a state the operation needs (google.rpc.PreconditionFailure when typed)."""

    reason = "FAILED_PRECONDITION"

    def __init__(self, message: str, violation_type: str = "", subject: str = "") -> None:
        super().__init__(message, reason=violation_type or None)
        self.violation_type = violation_type
        self.subject = subject


class ResourceExhausted(ServiceError):
    reason = "RESOURCE_EXHAUSTED"


class Unavailable(ServiceError):
    """A dependency is down or overloaded: the caller may retry with backoff."""

    reason = "UNAVAILABLE"
