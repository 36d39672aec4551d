"""ContentService's reading rules, pure: batch answers, batch and window bounds; parsing many ids."""

from __future__ import annotations

import uuid

import pytest

from common.errors import InvalidArgument
from common.ids import parse_ids
from content_svc.rules.reading import (
    DEFAULT_CONTEXT_RADIUS,
    MAX_BATCH_SIZE,
    MAX_CONTEXT_RADIUS,
    batch,
    check_batch_size,
    context_radius,
)


def test_a_batch_keeps_request_order_answers_repeats_and_lists_what_was_missing() -> None:
    answer = batch(["b", "x", "a", "b", "y"], {"a": 1, "b": 2})
    assert answer.found == [2, 1, 2]
    assert answer.missing == ["x", "y"]


@pytest.mark.parametrize(("count", "ok"), [
    pytest.param(0, False, id="empty"),
    pytest.param(1, True, id="one"),
    pytest.param(MAX_BATCH_SIZE, True, id="at-the-limit"),
    pytest.param(MAX_BATCH_SIZE + 1, False, id="over-the-limit"),
])
def test_batch_size_is_bounded(count: int, ok: bool) -> None:
    if ok:
        check_batch_size(count, "requests")
    else:
        with pytest.raises(InvalidArgument) as error:
            check_batch_size(count, "requests")
        assert set(error.value.violations) == {"requests"}


@pytest.mark.parametrize(("requested", "radius"), [
    pytest.param(0, DEFAULT_CONTEXT_RADIUS, id="default"),
    pytest.param(1, 1, id="one"),
    pytest.param(MAX_CONTEXT_RADIUS, MAX_CONTEXT_RADIUS, id="maximum"),
    pytest.param(-1, None, id="negative"),
    pytest.param(MAX_CONTEXT_RADIUS + 1, None, id="over-the-maximum"),
])
def test_context_radius(requested: int, radius: int | None) -> None:
    if radius is not None:
        assert context_radius(requested) == radius
    else:
        with pytest.raises(InvalidArgument) as error:
            context_radius(requested)
        assert set(error.value.violations) == {"radius"}


def test_parse_ids_names_every_bad_field() -> None:
    good = str(uuid.uuid4())
    assert parse_ids([("a", good)]) == [uuid.UUID(good)]
    with pytest.raises(InvalidArgument) as error:
        parse_ids([("a", good), ("b", "nope"), ("c", "")])
    assert error.value.violations == {"b": "must be a UUID", "c": "is required"}
