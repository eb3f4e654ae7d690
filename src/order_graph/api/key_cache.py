"""Remembered API-key look-ups, so that a request does not cost a database query per key.

Known keys and unknown ones are kept apart, each a bounded LRU, so that a flood of random keys
can evict only other unknown keys, never a real client. An answer is remembered `seconds`:
a revoked key therefore stops working within that time.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from order_graph.domain.access import Principal

V = TypeVar("V")

KNOWN_KEYS = 10_000
UNKNOWN_KEYS = 10_000


class KeyCache:
    def __init__(
        self,
        seconds: float,
        known_size: int = KNOWN_KEYS,
        unknown_size: int = UNKNOWN_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.clock = clock
        self._known: _Lru[Principal] = _Lru(known_size)
        self._unknown: _Lru[bool] = _Lru(unknown_size)

    def known(self, digest: str) -> Principal | None:
        """The client of a key hash looked up less than `seconds` ago."""
        return self._known.get(digest, self.clock())

    def unknown(self, digest: str) -> bool:
        """Whether the key hash was found to be unknown (or revoked) less than `seconds` ago."""
        return self._unknown.get(digest, self.clock()) is not None

    def remember(self, digest: str, found: Principal | None) -> None:
        if self.seconds <= 0:
            return
        expires = self.clock() + self.seconds
        if found is None:
            self._known.drop(digest)
            self._unknown.put(digest, True, expires)
        else:
            self._unknown.drop(digest)
            self._known.put(digest, found, expires)


class _Lru(Generic[V]):
    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()

    def get(self, key: str, now: float) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= now:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: str, value: V, expires: float) -> None:
        self._entries[key] = (expires, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def drop(self, key: str) -> None:
        self._entries.pop(key, None)
