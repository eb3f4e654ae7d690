"""The hub's window pieces: events in log order with a cheap front, and a subscriber's batch."""

from __future__ import annotations

from bisect import bisect_right

from order_graph.domain.model import EventRecord


def position(event: EventRecord) -> int:
    return event.position


class Tail:
    """Events in log order; the oldest leave from the front (amortised O(1), no copying).
    Their positions are kept alongside, so that finding a cursor is a bisection in C."""

    __slots__ = ("_events", "_positions", "_start")

    def __init__(self) -> None:
        self._events: list[EventRecord] = []
        self._positions: list[int] = []
        self._start = 0

    def __len__(self) -> int:
        return len(self._events) - self._start

    def append(self, event: EventRecord) -> None:
        self._events.append(event)
        self._positions.append(event.position)

    def popleft(self) -> EventRecord:
        event = self._events[self._start]
        self._start += 1
        if self._start > 1024 and self._start * 2 > len(self._events):
            del self._events[: self._start]
            del self._positions[: self._start]
            self._start = 0
        return event

    def after(self, cursor: int, limit: int) -> list[EventRecord]:
        """The first `limit` events after `cursor` (a subscriber far behind copies no more
        than it takes)."""
        index = bisect_right(self._positions, cursor, lo=self._start)
        return self._events[index : index + limit]


class Batch(list[EventRecord]):
    """Events for one subscriber. `generation` names the hub read they came from (None: read
    from the table for this subscriber alone), so that what is loaded for them can be shared
    by every subscriber that receives them."""

    def __init__(self, events: list[EventRecord], generation: int | None) -> None:
        super().__init__(events)
        self.generation = generation
