"""Teacher profiles through gRPC: default on first access, masked updates, validation."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from google.protobuf import field_mask_pb2

from teaching.user.v1 import user_service_pb2 as pb
from teaching.user.v1 import user_service_pb2_grpc
from tests.status import field_violations
from tests.user.support import Teacher, book

NewTeacher = Callable[[], Teacher]


def _profile(teacher: Teacher) -> pb.TeacherProfile:
    profile: pb.TeacherProfile = teacher.call("GetProfile", pb.GetProfileRequest()).profile
    return profile


def _update_request(profile: pb.TeacherProfile, *paths: str) -> pb.UpdateProfileRequest:
    return pb.UpdateProfileRequest(profile=profile, update_mask=field_mask_pb2.FieldMask(paths=list(paths)))


def test_first_access_creates_the_default_profile_once(new_teacher: NewTeacher) -> None:
    teacher = new_teacher()
    with ThreadPoolExecutor(max_workers=8) as pool:
        profiles = list(pool.map(lambda _: _profile(teacher), range(8)))
    first = profiles[0]
    assert first.user_id == teacher.user_id
    assert first.language == "en" and first.display_name == ""
    assert list(first.grade_levels) == [] and list(first.active_books) == []
    assert first.create_time.seconds > 0
    assert all(p == first for p in profiles)
    assert _profile(teacher) == first


def test_update_changes_only_masked_fields(new_teacher: NewTeacher) -> None:
    teacher = new_teacher()
    before = _profile(teacher)
    algebra, chapter = book(), book()
    change = pb.TeacherProfile(
        display_name="Ms. Rivera",
        grade_levels=["5", "6"],
        subjects=["math"],  # not in the mask: ignored
        language="es-MX",
        active_books=[pb.ActiveBook(book_id=algebra, current_node_id=chapter, current_page=41)],
    )
    updated = teacher.call("UpdateProfile", _update_request(change, "display_name", "grade_levels", "language",
                                                            "active_books")).profile
    assert updated.display_name == "Ms. Rivera" and list(updated.grade_levels) == ["5", "6"]
    assert updated.language == "es-MX" and list(updated.subjects) == []
    assert [(b.book_id, b.current_node_id, b.current_page) for b in updated.active_books] == [(algebra, chapter, 41)]
    assert updated.create_time == before.create_time
    assert updated.update_time.ToDatetime() >= before.update_time.ToDatetime()
    assert _profile(teacher) == updated

    # Ids come back in canonical form.
    strategy = book()
    canonical = teacher.call("UpdateProfile", _update_request(
        pb.TeacherProfile(default_pedagogy_strategy_id=strategy.upper()), "default_pedagogy_strategy_id"
    )).profile
    assert canonical.default_pedagogy_strategy_id == strategy

    # A masked field left empty is cleared (AIP-134).
    cleared = teacher.call("UpdateProfile", _update_request(pb.TeacherProfile(), "grade_levels")).profile
    assert list(cleared.grade_levels) == [] and cleared.display_name == "Ms. Rivera"


@pytest.mark.parametrize(
    ("request_message", "field"),
    [
        (_update_request(pb.TeacherProfile(display_name="x")), "update_mask"),
        (_update_request(pb.TeacherProfile(display_name="x"), "display_name", "nickname"), "update_mask"),
        (_update_request(pb.TeacherProfile(user_id="someone-else"), "user_id"), "update_mask"),
        (_update_request(pb.TeacherProfile(display_name="x" * 101), "display_name"), "profile.display_name"),
        (_update_request(pb.TeacherProfile(language="not a tag!"), "language"), "profile.language"),
        (_update_request(pb.TeacherProfile(subjects=[f"s{i}" for i in range(51)]), "subjects"), "profile.subjects"),
        (_update_request(pb.TeacherProfile(grade_levels=["5", ""]), "grade_levels"), "profile.grade_levels[1]"),
        (
            _update_request(pb.TeacherProfile(active_books=[pb.ActiveBook(book_id="nope")]), "active_books"),
            "profile.active_books[0].book_id",
        ),
        (
            _update_request(
                pb.TeacherProfile(active_books=[pb.ActiveBook(book_id=book(), current_page=-1)]), "active_books"
            ),
            "profile.active_books[0].current_page",
        ),
        (
            _update_request(
                pb.TeacherProfile(active_books=[pb.ActiveBook(book_id=book(), current_node_id="ch-3")]),
                "active_books",
            ),
            "profile.active_books[0].current_node_id",
        ),
        (
            _update_request(pb.TeacherProfile(default_pedagogy_strategy_id="socratic"), "default_pedagogy_strategy_id"),
            "profile.default_pedagogy_strategy_id",
        ),
        # A half-valid request is refused whole: the valid display_name is not written either.
        (_update_request(pb.TeacherProfile(display_name="New", language="?"), "display_name", "language"),
         "profile.language"),
    ],
    ids=["empty mask", "unknown path", "output-only path", "long name", "bad language", "too many subjects",
         "blank grade", "bad book id", "negative page", "bad node id", "bad strategy id", "half valid"],
)
def test_invalid_updates_are_refused_and_change_nothing(
    new_teacher: NewTeacher, request_message: pb.UpdateProfileRequest, field: str
) -> None:
    teacher = new_teacher()
    teacher.call("UpdateProfile", _update_request(pb.TeacherProfile(display_name="Kept"), "display_name"))
    before = _profile(teacher)
    error = teacher.fails("UpdateProfile", request_message, grpc.StatusCode.INVALID_ARGUMENT)
    assert set(field_violations(error)) == {field}
    assert _profile(teacher) == before


def test_calls_without_a_token_are_unauthenticated(user_stub: user_service_pb2_grpc.UserServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as error:
        user_stub.GetProfile(pb.GetProfileRequest(), timeout=10)
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
