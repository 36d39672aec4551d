"""UserService's profile rules without a stack: which fields may change and what they may hold."""

from __future__ import annotations

import uuid

import pytest

from common.errors import InvalidArgument
from teaching.user.v1 import user_service_pb2 as pb
from user_svc import api
from user_svc.rules import limits
from user_svc.rules.profiles import profile_patch
from user_svc.rules.types import ActiveBook, ProfilePatch

BOOK = str(uuid.uuid4())


def test_only_masked_fields_change_and_ids_become_canonical() -> None:
    node = str(uuid.uuid4())
    patch = profile_patch(api.profile_draft(
        pb.TeacherProfile(display_name="Ms. Rivera", subjects=["math"], language="es-MX",
                          active_books=[pb.ActiveBook(book_id=BOOK.upper(), current_node_id=node.upper(),
                                                      current_page=41)])),
        ["display_name", "language", "active_books", "display_name"],
    )
    assert patch == ProfilePatch(display_name="Ms. Rivera", language="es-MX",
                                 active_books=(ActiveBook(uuid.UUID(BOOK), node, 41),))


def test_a_masked_field_left_empty_is_cleared() -> None:
    patch = profile_patch(api.profile_draft(pb.TeacherProfile()), ["grade_levels", "default_pedagogy_strategy_id"])
    assert patch == ProfilePatch(grade_levels=(), default_pedagogy_strategy_id="")


@pytest.mark.parametrize(
    ("profile", "mask", "field"),
    [
        (pb.TeacherProfile(display_name="x"), [], "update_mask"),
        (pb.TeacherProfile(display_name="x"), ["display_name", "nickname"], "update_mask"),
        (pb.TeacherProfile(user_id="someone-else"), ["user_id"], "update_mask"),
        (pb.TeacherProfile(display_name="x" * (limits.DISPLAY_NAME_MAX_CHARS + 1)), ["display_name"],
         "profile.display_name"),
        (pb.TeacherProfile(language="not a tag!"), ["language"], "profile.language"),
        (pb.TeacherProfile(subjects=[f"s{i}" for i in range(limits.LIST_MAX_ITEMS + 1)]), ["subjects"],
         "profile.subjects"),
        (pb.TeacherProfile(grade_levels=["5", ""]), ["grade_levels"], "profile.grade_levels[1]"),
        (pb.TeacherProfile(active_books=[pb.ActiveBook(book_id="nope")]), ["active_books"],
         "profile.active_books[0].book_id"),
        (pb.TeacherProfile(active_books=[pb.ActiveBook(book_id=BOOK), pb.ActiveBook(book_id=BOOK.upper())]),
         ["active_books"], "profile.active_books[1].book_id"),
        (pb.TeacherProfile(active_books=[pb.ActiveBook(book_id=BOOK, current_page=-1)]), ["active_books"],
         "profile.active_books[0].current_page"),
        (pb.TeacherProfile(active_books=[pb.ActiveBook(book_id=BOOK, current_node_id="ch-3")]), ["active_books"],
         "profile.active_books[0].current_node_id"),
        (pb.TeacherProfile(default_pedagogy_strategy_id="socratic"), ["default_pedagogy_strategy_id"],
         "profile.default_pedagogy_strategy_id"),
    ],
    ids=["empty mask", "unknown path", "output-only path", "long name", "bad language", "too many subjects",
         "blank grade", "bad book id", "book twice", "negative page", "bad node id", "bad strategy id"],
)
def test_bad_updates_are_refused_naming_the_field(profile: pb.TeacherProfile, mask: list[str], field: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        profile_patch(api.profile_draft(profile), mask)
    assert field in error.value.violations


@pytest.mark.parametrize("language", ["", "en", "es-MX", "zh-Hant-TW"])
def test_language_tags_and_empty_are_accepted(language: str) -> None:
    draft = api.profile_draft(pb.TeacherProfile(language=language))
    assert profile_patch(draft, ["language"]) == ProfilePatch(language=language)
