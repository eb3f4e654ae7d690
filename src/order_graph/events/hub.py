"""Per-process fan-out of the event log to any number of subscribers.

One tail reader per process follows the log and keeps the newest events in a bounded window
(everything from `floor` to `head`), indexed by store as well. Subscribers pull: each keeps its
own cursor, takes what it needs from the window, and reads the table itself when it is behind
the window (a late resume, or a consumer slower than the window is long). Nothing is queued
per subscriber, so a slow one holds no memory and slows nobody; and since every subscriber
reads by cursor, the hand-over from catch-up to live can neither skip nor repeat an event.

Waking is routed by store: a subscriber filtered by stores (a POS, a kitchen screen, any client
bound to stores) waits on those stores only, and a new batch wakes only the subscribers of the
stores it touches, plus those following every store. A subscriber that was not woken has
missed nothing: when it wakes it takes its stores' events after its cursor from the store index,
which holds every event of the store since the window last dropped one of that store's.

While the process has no subscriber the hub is idle: it keeps no window and reads nothing, so
writes cost no extra reads; the first subscriber catches up from the table and wakes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from heapq import merge
from itertools import islice

from order_graph.domain.model import EventRecord
from order_graph.events import log
from order_graph.events.tail import Batch, Tail, position
from order_graph.ops.metrics import SUBSCRIBER_WAKEUPS
from order_graph.storage.database import Database

logger = logging.getLogger(__name__)

BATCH = 500


class EventHub:
    def __init__(
        self,
        db: Database,
        window: int = 10_000,
        poll_seconds: float = 5.0,
        coalesce_seconds: float = 0.015,
    ) -> None:
        self.db = db
        self.poll_seconds = poll_seconds
        # Reads of the log at most this often: under load one read (two statements) serves
        # many commits, for at most this much more latency; idle, a commit is read at once.
        self.coalesce_seconds = coalesce_seconds
        self._size = window
        self._window = Tail()
        self._stores: dict[str, Tail] = {}
        # The newest position each store had evicted from the window (since the last reset).
        self._evicted: dict[str, int] = {}
        self._floor = 0  # the window holds every event after it, up to the head
        self._reset_at = 0  # where the window last restarted empty
        self._head = 0
        self.generation = 0  # one more per read that advanced the head
        self.newest_read: list[EventRecord] = []  # the events of that read
        self._subscribers = 0
        # Where each subscriber of this process stands while it is not waiting, for the lag.
        self._cursors: dict[int, int] = {}
        self._everywhere: set[asyncio.Future[None]] = set()
        self._by_store: dict[str, set[asyncio.Future[None]]] = {}
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
                # Commits arriving meanwhile set `_wake` again and are read together.
                await asyncio.sleep(self.coalesce_seconds)
            except Exception:
                logger.warning("event hub could not read the log; retrying", exc_info=True)
                await asyncio.sleep(1)
                self._wake.set()

    async def _pull(self) -> None:
        if not self._subscribers:
            self._idle = True
            self._restart(self._head)
            return
        if self._idle:  # the first subscriber since idling: the window starts at the head
            async with self.db.read() as conn:
                self._restart(await log.head(conn))
            self._idle = False
            self._wake_all()
        while True:
            async with self.db.read() as conn:
                newest = await log.head(conn)
                if newest <= self._head:
                    return
                events = await log.read_after(conn, self._head, log.EventQuery(), BATCH, newest)
            self._append(events, newest)
            if len(events) < BATCH:
                # Read up to `newest`: a commit since then has poked the hub, which reads
                # again after the coalescing pause (two statements a read, not three).
                return

    def _restart(self, head: int) -> None:
        self._window = Tail()
        self._stores.clear()
        self._evicted.clear()
        self._floor = self._reset_at = self._head = head

    def _append(self, events: list[EventRecord], newest: int) -> None:
        # `read_after` returned every event up to `newest` unless it filled a whole batch, so
        # the window stays complete between floor and head, whatever holes the positions have.
        for event in events:
            self._window.append(event)
            tail = self._stores.get(event.store_id)
            if tail is None:
                tail = self._stores[event.store_id] = Tail()
            tail.append(event)
        while len(self._window) > self._size:
            old = self._window.popleft()
            self._stores[old.store_id].popleft()
            self._evicted[old.store_id] = self._floor = old.position
        self._head = events[-1].position if len(events) == BATCH else newest
        self.generation += 1
        self.newest_read = events
        self._wake_stores({event.store_id for event in events})

    def _wake_stores(self, stores: Iterable[str]) -> None:
        woken = self._everywhere
        self._everywhere = set()
        for store in stores:
            waiting = self._by_store.pop(store, None)
            if waiting:
                woken |= waiting
        for waiter in woken:
            if not waiter.done():
                waiter.set_result(None)
        SUBSCRIBER_WAKEUPS.inc(len(woken))

    def _wake_all(self) -> None:
        self._wake_stores(list(self._by_store))

    def _buffered_after(
        self, cursor: int, stores: list[str] | None, limit: int
    ) -> list[EventRecord] | None:
        """The first `limit` buffered events of `stores` (None: every store) after `cursor`;
        None when some of them may be missing from memory (the window dropped them, or the
        hub keeps none)."""
        if self._idle:
            return None
        if stores is None:
            return self._window.after(cursor, limit) if cursor >= self._floor else None
        found: list[list[EventRecord]] = []
        for store in stores:
            if cursor < self._evicted.get(store, self._reset_at):
                return None
            tail = self._stores.get(store)
            if tail is not None:
                events = tail.after(cursor, limit)
                if events:
                    found.append(events)
        if len(found) == 1:
            return found[0]
        return list(islice(merge(*found, key=position), limit))

    async def _wait_beyond(self, cursor: int, stores: list[str] | None) -> None:
        """Until an event of `stores` may have arrived after `cursor`."""
        if self._head > cursor and self._buffered_after(cursor, stores, 1) != []:
            return  # something arrived (or the window cannot tell) since the caller looked
        waiter = asyncio.get_running_loop().create_future()
        if stores is None:
            self._everywhere.add(waiter)
        else:
            for store in stores:
                self._by_store.setdefault(store, set()).add(waiter)
        try:
            await waiter
        finally:
            if stores is not None:  # woken by one store: leave the others' sets
                for store in stores:
                    waiting = self._by_store.get(store)
                    if waiting is not None:
                        waiting.discard(waiter)
                        if not waiting:
                            del self._by_store[store]
            self._everywhere.discard(waiter)

    def lag(self) -> int:
        """How far the slowest subscriber of this process is behind the newest event."""
        return self._head - min(self._cursors.values(), default=self._head)

    async def follow(self, after: int, query: log.EventQuery) -> AsyncIterator[Batch]:
        """Every matching event after `after`, in log order, in batches, forever."""
        key = object()
        self._subscribers += 1
        try:
            async for batch in self._follow_from(id(key), after, query):
                yield batch
        finally:
            self._subscribers -= 1
            self._cursors.pop(id(key), None)

    async def _follow_from(
        self, key: int, after: int, query: log.EventQuery
    ) -> AsyncIterator[Batch]:
        cursor = after
        stores = None if query.store_ids is None else list(query.store_ids)
        while True:
            self._cursors[key] = cursor
            buffered = self._buffered_after(cursor, stores, BATCH + 1)
            if buffered is None:
                events, newest = await self._read_table(cursor, query)
                if events:
                    yield Batch(events, None)
                elif newest == cursor and self._idle:
                    # Caught up from the table: from here the hub follows the log for us.
                    self.poke()
                    await self._wait(key, cursor, stores)
                cursor = newest
                continue
            generation = self.generation
            truncated = len(buffered) > BATCH
            if truncated:
                buffered = buffered[:BATCH]
                cursor = buffered[-1].position
            else:  # everything of its stores up to the head (which a table read may be past)
                cursor = max(cursor, self._head)
            matching = [event for event in buffered if log.matches(query, event)]
            if matching:
                yield Batch(matching, generation)
            elif not truncated:
                await self._wait(key, cursor, stores)

    async def _wait(self, key: int, cursor: int, stores: list[str] | None) -> None:
        # A waiting subscriber has everything of its stores up to the head: it adds no lag.
        del self._cursors[key]
        await self._wait_beyond(cursor, stores)

    async def _read_table(
        self, cursor: int, query: log.EventQuery
    ) -> tuple[list[EventRecord], int]:
        async with self.db.read() as conn:
            newest = await log.head(conn)
            events = await log.read_after(conn, cursor, query, BATCH, newest)
        return events, events[-1].position if len(events) == BATCH else newest
