"""Resource ids: every id in our contracts is a UUID in its canonical text form."""

from __future__ import annotations

import uuid

from common.errors import InvalidArgument


def parse_id(value: str, field: str) -> uuid.UUID:
    """The UUID in `value`; InvalidArgument naming `field` when it is empty or not a UUID."""
    if not value:
        raise InvalidArgument({field: "is required"})
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise InvalidArgument({field: "must be a UUID"}) from exc


def parse_optional_id(value: str, field: str) -> uuid.UUID | None:
    """Like parse_id, but an empty value (an unset optional field) is None."""
    return parse_id(value, field) if value else None
