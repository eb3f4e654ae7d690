"""Per-process fan-out of the event log to any number of subscribers.

One tail reader per process follows the log and keeps the newest events in a bounded,
contiguous window (the positions just up to `head`). Subscribers pull: each keeps its own
cursor, takes what it needs from the window, and reads the table itself when it is behind
the window (a late resume, or a consumer slower than the window is long). Nothing is queued
per subscriber, so a slow one holds no memory and slows nobody; and since every subscriber
reads by cursor, the hand-over from catch-up to live can neither skip nor repeat an event.
While the process has no subscriber the hub is idle: it keeps no window and reads nothing, so
writes cost no extra reads; the first subscriber catches up from the table and wakes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator

from order_graph.domain.model import EventRecord
from order_graph.events import log
from order_graph.storage.database import Database

logger = logging.getLogger(__name__)

BATCH = 500


class EventHub:
    def __init__(self, db: Database, window: int = 10_000, poll_seconds: float = 5.0) -> None:
        self.db = db
        self.poll_seconds = poll_seconds
        self._window: deque[EventRecord] = deque(maxlen=window)
        self._head = 0
        # Where each subscriber of this process stands, for the lag metric.
        self._cursors: dict[int, int] = {}
        self._advanced = asyncio.Condition()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # With no subscriber the hub keeps no window, and a commit costs no read at all.
        self._idle = True

    async def current_head(self) -> int:
        """The newest committed position: where a subscription for new events starts."""
        if not self._idle:
            return self._head
        async with self.db.read() as conn:
            return await log.head(conn)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._follow(), name="event-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def poke(self) -> None:
        """Something committed: read the log soon. Safe to call from any callback."""
        self._wake.set()

    async def _follow(self) -> None:
        while True:
            # The timeout is a safety net only; commits and NOTIFY wake us at once.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            self._wake.clear()
            try:
                await self._pull()
            except Exception:
                logger.warning("event hub could not read the log; retrying", exc_info=True)
                await asyncio.sleep(1)
                self._wake.set()

    async def _pull(self) -> None:
        if not self._cursors:
            self._idle = True
            self._window.clear()
            return
        if self._idle:  # the first subscriber since idling: the window starts at the head
            async with self.db.read() as conn:
                self._head = await log.head(conn)
            self._idle = False
            async with self._advanced:
                self._advanced.notify_all()
        while True:
            async with self.db.read() as conn:
                newest = await log.head(conn)
                if newest <= self._head:
                    return
                events = await log.read_after(conn, self._head, log.EventQuery(), BATCH, newest)
            self._append(events, newest)
            async with self._advanced:
                self._advanced.notify_all()

    def _append(self, events: list[EventRecord], newest: int) -> None:
        # The window stays contiguous: positions have no holes (a rolled-back transaction rolls
        # its counter increment back too) except where old events were pruned. At a hole, or
        # when nothing could be read, the window restarts empty.
        if not events or events[0].position != self._head + 1:
            self._window.clear()
        self._window.extend(events)
        self._head = events[-1].position if events else newest
        if len(events) < BATCH and self._head != newest:
            self._window.clear()
            self._head = newest

    def _buffered_after(self, cursor: int) -> list[EventRecord] | None:
        """Up to BATCH buffered events after `cursor`; None when `cursor` is behind the window
        (or the hub keeps none)."""
        if self._idle:
            return None
        floor = self._head - len(self._window)
        if cursor < floor:
            return None
        start = cursor - floor
        end = min(start + BATCH, len(self._window))
        return [self._window[i] for i in range(start, end)]

    async def _wait_beyond(self, cursor: int) -> None:
        async with self._advanced:
            await self._advanced.wait_for(lambda: self._head > cursor)

    def lag(self) -> int:
        """How far the slowest subscriber of this process is behind the newest event."""
        return self._head - min(self._cursors.values(), default=self._head)

    async def follow(self, after: int, query: log.EventQuery) -> AsyncIterator[list[EventRecord]]:
        """Every matching event after `after`, in log order, in batches, forever."""
        key = object()
        try:
            async for batch in self._follow_from(key, after, query):
                yield batch
        finally:
            self._cursors.pop(id(key), None)

    async def _follow_from(
        self, key: object, after: int, query: log.EventQuery
    ) -> AsyncIterator[list[EventRecord]]:
        cursor = after
        while True:
            self._cursors[id(key)] = cursor
            batch = self._buffered_after(cursor)
            if batch is None:
                batch, newest = await self._read_table(cursor, query)
                if batch:
                    yield batch
                elif newest == cursor and self._idle:
                    # Caught up from the table: from here the hub follows the log for us.
                    self.poke()
                    await self._wait_beyond(cursor)
                cursor = newest
                continue
            if not batch:
                await self._wait_beyond(cursor)
                continue
            cursor = batch[-1].position
            matching = [event for event in batch if log.matches(query, event)]
            if matching:
                yield matching

    async def _read_table(
        self, cursor: int, query: log.EventQuery
    ) -> tuple[list[EventRecord], int]:
        async with self.db.read() as conn:
            newest = await log.head(conn)
            events = await log.read_after(conn, cursor, query, BATCH, newest)
        return events, events[-1].position if len(events) == BATCH else newest
