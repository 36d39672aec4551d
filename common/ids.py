"""Resource ids: every id in our contracts is a UUID in its canonical text form."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

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


def parse_ids(values: Sequence[tuple[str, str]]) -> list[uuid.UUID]:
    """parse_id of each (field, value) pair; one InvalidArgument naming every bad field."""
    parsed: list[uuid.UUID] = []
    violations: dict[str, str] = {}
    for field, value in values:
        try:
            parsed.append(parse_id(value, field))
        except InvalidArgument as error:
            violations.update(error.violations)
    if violations:
        raise InvalidArgument(violations)
    return parsed
