"""What UserService remembers of ContentService's answers for reads (user_svc.library.Confirmations):
a found reference for the cache time, a missing one not at all, the oldest dropped beyond capacity."""

from __future__ import annotations

import pytest

from user_svc.library import Confirmations


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_found_reference_is_confirmed_for_the_cache_time(clock: Clock) -> None:
    confirmations = Confirmations(5.0, clock)
    confirmations.record([("book", True)])
    clock.now += 4.9
    assert confirmations.fresh()("book")
    clock.now += 0.2
    assert not confirmations.fresh()("book")


def test_a_missing_reference_is_forgotten_at_once(clock: Clock) -> None:
    confirmations = Confirmations(5.0, clock)
    confirmations.record([("book", True), ("atom", True)])
    confirmations.record([("book", False)])
    fresh = confirmations.fresh()
    assert not fresh("book") and fresh("atom")
    assert not fresh("never asked")


def test_a_confirmation_after_the_read_began_counts(clock: Clock) -> None:
    confirmations = Confirmations(5.0, clock)
    fresh = confirmations.fresh()
    clock.now += 1.0
    confirmations.record([("book", True)])
    assert fresh("book")


def test_zero_seconds_remembers_nothing(clock: Clock) -> None:
    confirmations = Confirmations(0.0, clock)
    confirmations.record([("book", True)])
    assert not confirmations.fresh()("book")


def test_beyond_capacity_the_oldest_confirmation_goes(clock: Clock) -> None:
    confirmations = Confirmations(5.0, clock, capacity=2)
    confirmations.record([("first", True), ("second", True)])
    confirmations.record([("first", True)])  # confirmed again: now the newest
    confirmations.record([("third", True)])
    fresh = confirmations.fresh()
    assert [key for key in ("first", "second", "third") if fresh(key)] == ["first", "third"]
