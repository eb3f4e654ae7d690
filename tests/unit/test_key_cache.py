"""The key cache with an injected clock: how long answers are remembered, and its bounds."""

from __future__ import annotations

from order_graph.api.key_cache import KeyCache
from order_graph.domain.access import Principal, Scope

POS = Principal("pos", frozenset({Scope.ORDERS_READ}))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_answer_is_remembered_for_the_cache_period_only() -> None:
    clock = Clock()
    cache = KeyCache(5, clock=clock)
    cache.remember("known", POS)
    cache.remember("unknown", None)
    clock.now += 4.9
    assert cache.known("known") == POS
    assert cache.unknown("unknown")
    clock.now += 0.2
    assert cache.known("known") is None
    assert not cache.unknown("unknown")


def test_unknown_keys_evict_only_each_other() -> None:
    cache = KeyCache(60, known_size=2, unknown_size=3, clock=Clock())
    cache.remember("pos", POS)
    for n in range(100):
        cache.remember(f"random-{n}", None)
    assert cache.known("pos") == POS
    assert [n for n in range(100) if cache.unknown(f"random-{n}")] == [97, 98, 99]


def test_the_least_recently_used_known_key_goes_first() -> None:
    cache = KeyCache(60, known_size=2, clock=Clock())
    cache.remember("a", POS)
    cache.remember("b", POS)
    assert cache.known("a") == POS  # a is used, so b is the oldest
    cache.remember("c", POS)
    assert cache.known("b") is None
    assert cache.known("a") == cache.known("c") == POS


def test_a_revoked_key_moves_from_known_to_unknown() -> None:
    cache = KeyCache(60, clock=Clock())
    cache.remember("k", POS)
    cache.remember("k", None)
    assert cache.known("k") is None
    assert cache.unknown("k")


def test_nothing_is_remembered_with_a_zero_period() -> None:
    cache = KeyCache(0, clock=Clock())
    cache.remember("k", POS)
    assert cache.known("k") is None
