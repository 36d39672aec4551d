"""Checks on UserService requests: shapes, ids and size limits (user_svc/rules/limits.py).

Every check collects violations with AIP field paths (e.g. `artifact.quiz.questions[3].prompt`) so
one INVALID_ARGUMENT reports all of them; callers raise before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from common.errors import InvalidArgument
from user_svc.rules import limits
from user_svc.rules.types import ActiveBookDraft, ArtifactKind, AtomReferenceDraft, ProfileDraft

_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")


class Violations:
    def __init__(self) -> None:
        self.found: dict[str, str] = {}

    def add(self, field: str, why: str) -> None:
        self.found.setdefault(field, why)

    def raise_if_any(self) -> None:
        if self.found:
            raise InvalidArgument(dict(self.found))


def text(v: Violations, value: str, field: str, max_chars: int, *, required: bool = False) -> None:
    if required and not value.strip():
        v.add(field, "is required")
    elif len(value) > max_chars:
        v.add(field, f"is {len(value)} characters; at most {max_chars} allowed")
    elif "\x00" in value:
        v.add(field, "must not contain NUL characters")


def text_list(
    v: Violations, values: Sequence[str], field: str, *, max_items: int = limits.LIST_MAX_ITEMS,
    max_chars: int = limits.SHORT_TEXT_MAX_CHARS,
) -> None:
    if len(values) > max_items:
        v.add(field, f"has {len(values)} entries; at most {max_items} allowed")
        return
    for index, value in enumerate(values):
        text(v, value, f"{field}[{index}]", max_chars, required=True)


def uuid_text(v: Violations, value: str, field: str, *, required: bool = True) -> None:
    if not value and not required:
        return
    try:
        UUID(value)
    except ValueError:
        v.add(field, "must be a UUID" if value else "is required")


def mask_paths(v: Violations, paths: Iterable[str], allowed: Sequence[str]) -> list[str]:
    """The distinct paths in order; an empty mask or an unknown path is a violation."""
    distinct = list(dict.fromkeys(paths))
    if not distinct:
        v.add("update_mask", f"is required: name the fields to change among {', '.join(allowed)}")
    for path in distinct:
        if path not in allowed:
            v.add("update_mask", f"unknown or read-only path {path!r}; allowed: {', '.join(allowed)}")
    return distinct


# Profiles


def profile_fields(v: Violations, profile: ProfileDraft, paths: Iterable[str]) -> None:
    for path in paths:
        field = f"profile.{path}"
        if path == "display_name":
            text(v, profile.display_name, field, limits.DISPLAY_NAME_MAX_CHARS)
        elif path == "grade_levels":
            text_list(v, profile.grade_levels, field)
        elif path == "subjects":
            text_list(v, profile.subjects, field)
        elif path == "language":
            if profile.language and (
                len(profile.language) > limits.LANGUAGE_TAG_MAX_CHARS or not _LANGUAGE_TAG.match(profile.language)
            ):
                v.add(field, "must be a BCP-47 language tag such as 'en' or 'es-MX' (or empty)")
        elif path == "default_pedagogy_strategy_id":
            uuid_text(v, profile.default_pedagogy_strategy_id, field, required=False)
        elif path == "active_books":
            _active_books(v, profile.active_books, field)


def _active_books(v: Violations, books: Sequence[ActiveBookDraft], field: str) -> None:
    if len(books) > limits.LIST_MAX_ITEMS:
        v.add(field, f"has {len(books)} entries; at most {limits.LIST_MAX_ITEMS} allowed")
        return
    seen: set[str] = set()
    for index, book in enumerate(books):
        entry = f"{field}[{index}]"
        uuid_text(v, book.book_id, f"{entry}.book_id")
        if book.book_id and book.book_id.lower() in seen:
            v.add(f"{entry}.book_id", "appears twice")
        seen.add(book.book_id.lower())
        uuid_text(v, book.current_node_id, f"{entry}.current_node_id", required=False)
        if not 0 <= book.current_page <= limits.PAGE_NUMBER_MAX:
            v.add(f"{entry}.current_page", f"must be between 0 (unset) and {limits.PAGE_NUMBER_MAX}")


# Artifacts (bodies arrive as proto JSON: fields left at their default are absent)


def body(v: Violations, kind: ArtifactKind, content: dict[str, Any], size: int, field: str) -> None:
    """The body of a `kind` artifact at path `field`, `size` bytes serialized as protobuf."""
    if size > limits.BODY_MAX_BYTES:
        v.add(field, f"is {size} bytes serialized; at most {limits.BODY_MAX_BYTES} allowed")
        return
    {ArtifactKind.QUIZ: _quiz, ArtifactKind.LESSON_PLAN: _lesson_plan, ArtifactKind.WORKSHEET: _worksheet}[kind](
        v, content, field
    )


def _entries(v: Violations, entries: Sequence[Any], field: str) -> bool:
    if len(entries) > limits.BODY_ENTRIES_MAX:
        v.add(field, f"has {len(entries)} entries; at most {limits.BODY_ENTRIES_MAX} allowed")
        return False
    return True


def _quiz(v: Violations, quiz: dict[str, Any], field: str) -> None:
    questions = quiz.get("questions", [])
    if not _entries(v, questions, f"{field}.questions"):
        return
    long = limits.LONG_TEXT_MAX_CHARS
    for index, question in enumerate(questions):
        at = f"{field}.questions[{index}]"
        text(v, question.get("prompt", ""), f"{at}.prompt", long, required=True)
        text(v, question.get("answer", ""), f"{at}.answer", long)
        text(v, question.get("explanation", ""), f"{at}.explanation", long)
        choices = question.get("choices", [])
        if choices:
            text_list(v, choices, f"{at}.choices")
            if len(choices) < 2:
                v.add(f"{at}.choices", "a multiple-choice question needs at least 2 choices (none for open ones)")
            elif not 0 <= question.get("correct_choice_index", 0) < len(choices):
                v.add(f"{at}.correct_choice_index", f"must index one of the {len(choices)} choices")


def _lesson_plan(v: Violations, plan: dict[str, Any], field: str) -> None:
    text_list(v, plan.get("objectives", []), f"{field}.objectives")
    text_list(v, plan.get("materials", []), f"{field}.materials")
    activities = plan.get("activities", [])
    if not _entries(v, activities, f"{field}.activities"):
        return
    for index, activity in enumerate(activities):
        at = f"{field}.activities[{index}]"
        text(v, activity.get("title", ""), f"{at}.title", limits.TITLE_MAX_CHARS, required=True)
        text(v, activity.get("description", ""), f"{at}.description", limits.LONG_TEXT_MAX_CHARS)
        if not 0 <= activity.get("duration_minutes", 0) <= limits.LESSON_ACTIVITY_MAX_MINUTES:
            v.add(f"{at}.duration_minutes", f"must be between 0 and {limits.LESSON_ACTIVITY_MAX_MINUTES}")


def _worksheet(v: Violations, sheet: dict[str, Any], field: str) -> None:
    text(v, sheet.get("instructions", ""), f"{field}.instructions", limits.LONG_TEXT_MAX_CHARS)
    items = sheet.get("items", [])
    if not _entries(v, items, f"{field}.items"):
        return
    for index, item in enumerate(items):
        at = f"{field}.items[{index}]"
        text(v, item.get("prompt", ""), f"{at}.prompt", limits.LONG_TEXT_MAX_CHARS, required=True)
        text(v, item.get("answer", ""), f"{at}.answer", limits.LONG_TEXT_MAX_CHARS)


def book_ids(v: Violations, ids: Sequence[str], field: str) -> None:
    if len(ids) > limits.LIST_MAX_ITEMS:
        v.add(field, f"has {len(ids)} entries; at most {limits.LIST_MAX_ITEMS} allowed")
        return
    seen: set[str] = set()
    for index, book_id in enumerate(ids):
        uuid_text(v, book_id, f"{field}[{index}]")
        if book_id.lower() in seen:
            v.add(f"{field}[{index}]", "appears twice")
        seen.add(book_id.lower())


def atom_references(v: Violations, refs: Sequence[AtomReferenceDraft], field: str) -> None:
    if len(refs) > limits.LIST_MAX_ITEMS:
        v.add(field, f"has {len(refs)} entries; at most {limits.LIST_MAX_ITEMS} allowed")
        return
    for index, ref in enumerate(refs):
        uuid_text(v, ref.book_id, f"{field}[{index}].book_id")
        uuid_text(v, ref.atom_id, f"{field}[{index}].atom_id")
