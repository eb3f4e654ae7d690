"""The sequencer: gives committed events their log positions, one pass at a time, fleet-wide.

Writers insert their event with no position (events/log.py), so the writers of different
orders share no row and no lock. A pass is one call of `order_graph_number_events` (a
PL/pgSQL function of migration 0006, so that a pass is one round trip, in a transaction of its
own): it takes one PostgreSQL advisory lock (transaction-level, so any number of processes may
run passes: they take turns), then, in one statement with a snapshot taken after the lock,
numbers every committed event still without a position in `id` order from the
`event_counter` row, and NOTIFYs the listeners of every process (so the hubs need no change:
they wake on positioned events, as before).

Why no reader can skip an event: an event has no position until it has committed, and a pass
reads the waiting events only after it holds the lock, that is after the previous pass
committed; so every position a pass assigns is above every position visible before it, and a
reader following `position > cursor` finds them all. Why a single order's events keep their
version order: the change that made version N+1 locked the order after version N committed,
so its row was inserted later and has the larger id. Positions stay without holes (the
counter is transactional, unlike a sequence), as the hub's window expects.

Chosen over the other well-known design (the transaction id in every event, readers reading
only below the snapshot's xmin, the cursor a pair): the integer cursor stays, so every cursor
already issued keeps working; and a long transaction delays only its own event, where with the
xmin watermark any open transaction (even a report reading for minutes) holds every reader
back. The costs: each event row is written twice (inserted, then numbered: more WAL and vacuum
on `order_events`); an event reaches readers a pass after its commit; and the passes of the
whole fleet are serialised, one UPDATE of up to BATCH rows each, which numbers far more events
per second than one PostgreSQL accepts in writes.

The writing process runs the pass right after its commit (`settle`), and the write returns
once its event has a position, so a client that reads the log after its mutation's answer
finds the event there. Passes coalesce: the writers of one process that commit while a pass
runs share the next one, and a pass waits a few milliseconds for the writes of its process
still under way (`writing`), so that under load one pass numbers many events. A slow poll in
every server (`start`) numbers what a process that died between its commit and its pass left
behind, and samples the backlog for the metrics.
On SQLite the writer numbers its own event in its transaction, and there is nothing to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

from sqlalchemy import text

from order_graph.ops.metrics import EVENTS_POSITIONED, SEQUENCER_LAG, SEQUENCER_PENDING
from order_graph.storage.database import Database
from order_graph.storage.driver import Driver

logger = logging.getLogger(__name__)

BATCH = 5_000
POLL_SECONDS = 1.0
# The pass itself is a function (migration 0006): one round trip in autocommit, holding the
# advisory lock only for the statement that numbers.
_NUMBER = "SELECT order_graph_number_events($1)"
# How long a pass waits for the other writes of its process under way to commit (only while
# there are any): a little latency, when writes are concurrent, for far fewer passes.
GATHER_SECONDS = 0.005
_BACKLOG = text("SELECT count(*), min(occurred_at) FROM order_events WHERE position IS NULL")


class Sequencer:
    def __init__(
        self, db: Database, batch: int = BATCH, poll_seconds: float = POLL_SECONDS
    ) -> None:
        self.db = db
        self.batch = batch
        self.poll_seconds = poll_seconds
        self._turn = asyncio.Lock()  # one pass at a time in this process: the others wait
        self._requested = 0  # settle() calls so far
        self._settled = 0  # those a finished pass covered
        self._writing = 0  # writes of this process under way, whose commit may join a pass
        self._quiet = asyncio.Event()  # set when none is
        self._task: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Around a write transaction: while some are under way, a pass waits a moment for
        them (as PostgreSQL's commit_delay waits for commit_siblings), so that one pass numbers
        the events of many writes instead of one pass each."""
        self._writing += 1
        try:
            yield
        finally:
            self._writing -= 1
            if not self._writing:
                self._quiet.set()

    async def settle(self) -> None:
        """Called after a commit: returns once the commit's events have positions, that is
        after a pass that began after the commit. Never raises: the write has committed, and
        the poll positions its events should this pass fail."""
        if self.db.is_sqlite:
            return
        self._requested += 1
        ticket = self._requested
        async with self._turn:
            if self._settled >= ticket:
                return  # a pass that began after our commit has finished
            await self._gather()
            covered = self._requested
            try:
                await self._drain()
            except Exception as exc:
                logger.warning("event sequencer pass failed (%s); the poll retries", exc)
                return
            self._settled = max(self._settled, covered)

    async def _gather(self) -> None:
        if not self._writing:
            return
        self._quiet.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(GATHER_SECONDS):
                await self._quiet.wait()

    async def _drain(self) -> None:
        while await self._pass() == self.batch:
            pass

    async def _pass(self) -> int:
        async with self.db.read() as conn:  # autocommit: the function's call is its transaction
            # Straight to the driver: this runs once per batch of writes, and SQLAlchemy's
            # execution would cost more than the call itself. Through `Driver`, so a lost
            # connection leaves the pool and statement listeners see the call.
            raw = await conn.get_raw_connection()
            numbered = int(await Driver(conn, raw).fetchval(_NUMBER, self.batch))
        if numbered:
            EVENTS_POSITIONED.inc(numbered)
        return numbered

    async def _measure(self) -> int:
        """Updates the backlog metrics; returns how many committed events wait."""
        async with self.db.read() as conn:
            waiting, oldest = (await conn.execute(_BACKLOG)).one()
        SEQUENCER_PENDING.set(waiting)
        age = 0.0 if oldest is None else (datetime.now(UTC) - oldest).total_seconds()
        SEQUENCER_LAG.set(max(age, 0.0))
        return int(waiting)

    def start(self) -> None:
        """The poll of a long-running process; nothing to poll on SQLite."""
        if not self.db.is_sqlite:
            self._task = asyncio.create_task(self._poll(), name="event-sequencer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _poll(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                if await self._measure():
                    await self.settle()
            except Exception as exc:
                if not failing:  # once per outage, not once a second
                    logger.warning("event sequencer cannot read the log (%s); retrying", exc)
                failing = True
            else:
                failing = False
