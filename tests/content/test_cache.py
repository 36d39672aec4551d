"""The Redis read cache changes nothing but speed: same answers with it on or off, and writes are
visible at once. Runs the use cases in-process against the stack's real Postgres and Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from common.auth import Identity
from content_svc.quality import QualityCase, quality_table
from content_svc.rules.types import Scope, SearchMode, StrategyFields
from content_svc.usecases import ContentUseCases
from tests.content.support import use_cases


@pytest.fixture(scope="module")
def services(stack) -> Iterator[tuple[ContentUseCases, ContentUseCases]]:
    with use_cases(stack, cache_enabled=True) as cached, use_cases(stack, cache_enabled=False) as uncached:
        yield cached, uncached


def test_answers_are_identical_with_cache_on_and_off(stack, services, textbook):
    on, off = services
    user = Identity(user_id=f"cache-{uuid.uuid4().hex[:8]}", roles=frozenset({"teacher"}))
    for i in range(5):
        off.create_strategy(user, Scope.PRIVATE, StrategyFields(name=f"Cached {i}"))
    for _ in range(2):  # the second round is served from Redis by `on`
        assert on.outline(textbook.book_id) == off.outline(textbook.book_id)
        for scope in Scope:
            # Page tokens are encrypted with a fresh nonce each time: compare what they lead to.
            first_on, first_off = on.list_strategies(user, scope, 2, ""), off.list_strategies(user, scope, 2, "")
            assert first_on.items == first_off.items
            assert bool(first_on.next_page_token) == bool(first_off.next_page_token)
            if first_on.next_page_token:
                assert (
                    on.list_strategies(user, scope, 2, first_on.next_page_token).items
                    == off.list_strategies(user, scope, 2, first_off.next_page_token).items
                )
    client = redis.Redis.from_url(stack.settings.redis_url)
    try:
        assert any(client.scan_iter(match="content:v2:*", count=1000)), "the cache was never written"
    finally:
        client.close()

    # A write through either instance is visible to the cached one immediately.
    created = off.create_strategy(user, Scope.PRIVATE, StrategyFields(name="Aaa first"))
    assert on.list_strategies(user, Scope.PRIVATE, 2, "").items[0].strategy_id == created.strategy_id
    off.update_strategy(user, created.strategy_id, StrategyFields(name="Zzz last"), ["name"])
    assert on.list_strategies(user, Scope.PRIVATE, 2, "").items == off.list_strategies(user, Scope.PRIVATE, 2, "").items
    off.delete_strategy(user, created.strategy_id)
    listed = on.list_strategies(user, Scope.PRIVATE, 50, "")
    assert created.strategy_id not in {s.strategy_id for s in listed.items}


def test_quality_helper_measures_hit_at_1(services, textbook):
    on, _ = services
    cases = [
        QualityCase("lipid bilayer membrane", frozenset({uuid.UUID(textbook.node_id(12))})),
        QualityCase("mitochondria organelles", frozenset({uuid.UUID(textbook.node_id(13))})),
        QualityCase("carrying capacity", frozenset({uuid.UUID(textbook.node_id(21))})),
        QualityCase("photosynthesis light glucose", frozenset({uuid.UUID(textbook.node_id(14))})),
    ]
    table = quality_table(on, [textbook.book_id], cases)
    assert set(table) == set(SearchMode)
    assert table[SearchMode.TEXT] == 1.0 and table[SearchMode.HYBRID] == 1.0
    wrong = [QualityCase("carrying capacity", frozenset({uuid.UUID(textbook.node_id(12))}))]
    assert quality_table(on, [textbook.book_id], wrong)[SearchMode.TEXT] == 0.0
