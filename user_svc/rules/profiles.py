"""Profile rules: which fields a teacher may change and what an UpdateProfile may hold."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from common.ids import parse_id
from user_svc.rules import validation
from user_svc.rules.artifacts import canonical_id
from user_svc.rules.types import ActiveBook, ProfileDraft, ProfilePatch
from user_svc.rules.validation import Violations

# UpdateProfile's update_mask paths (user_id and the times are output only).
PROFILE_MUTABLE_FIELDS = (
    "display_name",
    "grade_levels",
    "subjects",
    "language",
    "default_pedagogy_strategy_id",
    "active_books",
)


def profile_patch(profile: ProfileDraft, mask: Iterable[str]) -> ProfilePatch:
    """The change an UpdateProfile asks for, validated whole; fields outside the mask are ignored."""
    v = Violations()
    paths = validation.mask_paths(v, mask, PROFILE_MUTABLE_FIELDS)
    known = [path for path in paths if path in PROFILE_MUTABLE_FIELDS]
    validation.profile_fields(v, profile, known)
    v.raise_if_any()
    return ProfilePatch(**{path: _value(profile, path) for path in known})


def _value(profile: ProfileDraft, path: str) -> Any:
    if path == "active_books":
        return tuple(
            ActiveBook(parse_id(b.book_id, "active_books"), canonical_id(b.current_node_id), b.current_page)
            for b in profile.active_books
        )
    if path == "default_pedagogy_strategy_id":
        return canonical_id(profile.default_pedagogy_strategy_id)
    return getattr(profile, path)
