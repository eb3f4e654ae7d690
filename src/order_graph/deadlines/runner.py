"""The deadline runner: fires every due deadline, oldest first, each exactly once.

A sweep reads the due deadlines from the due-time index (`order_deadlines.due_at`), a batch
at a time in (due time, order, rule) order, and fires each through `OrderService` in a
transaction of its own: up to `concurrency` orders at once (on PostgreSQL), the deadlines of
one order one after the other, oldest first. Only one runner in the deployment works on a
batch at a time: it holds a PostgreSQL session-level advisory lock for the batch, so a runner
killed mid-batch releases it when its connection closes, and the next batch of any runner
starts again from the oldest due deadline. The lock only saves work; exactness does not depend
on it: each firing re-reads its deadline under the order's row lock, applies it only if it is
still pending and due, and deletes it in the same transaction that records the change and its
event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection

from order_graph.config import Settings
from order_graph.deadlines.metrics import ALIVE, FIRED, LAST_SWEEP, LATENESS
from order_graph.domain.deadlines import Deadline
from order_graph.domain.errors import Rejected
from order_graph.relay.timing import Backoff, pause
from order_graph.service import OrderService
from order_graph.storage import deadlines as store

log = logging.getLogger(__name__)

BATCH_LOCK = store.lock_key("runner")


def is_unavailable(error: BaseException) -> bool:
    """The database is away: the sweep stops and is retried, rather than skipping deadlines."""
    if isinstance(error, DBAPIError):
        return error.connection_invalidated or isinstance(error, OperationalError | InterfaceError)
    return isinstance(error, OSError | TimeoutError | PoolTimeout)


class DeadlineRunner:
    def __init__(
        self,
        service: OrderService,
        batch_size: int = 100,
        poll_seconds: float = 1.0,
        concurrency: int = 4,
    ) -> None:
        self.service = service
        self.db = service.db
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        # SQLite writes one transaction at a time anyway.
        self.concurrency = 1 if self.db.is_sqlite else max(concurrency, 1)
        self._local = asyncio.Lock()

    @classmethod
    def of(cls, service: OrderService, settings: Settings) -> DeadlineRunner:
        return cls(
            service,
            settings.deadline_batch_size,
            settings.deadline_poll_seconds,
            settings.deadline_concurrency,
        )

    async def sweep(self, stop: asyncio.Event | None = None) -> int:
        """Fires everything due by the service's clock now, oldest first, and says how many
        fired; stops early while another runner holds the batch lock (it fires them then), or
        after the batch in flight once `stop` is set."""
        now = self.service.clock()
        after: Deadline | None = None
        fired = 0
        while stop is None or not stop.is_set():
            async with self._batch_lock() as leading:
                if not leading:
                    break
                async with self.db.read() as conn:
                    batch = await store.due(conn, now, after, self.batch_size)
                fired += await self._fire_batch(batch)
                after = batch[-1] if batch else after
            if len(batch) < self.batch_size:
                break
        if fired:
            log.info("deadlines: fired %d due by %s", fired, now.isoformat())
        LAST_SWEEP.set(time.time())
        return fired

    async def run(self, stop: asyncio.Event) -> None:
        """Sweeps every `poll_seconds` until `stop` is set, through database outages."""
        ALIVE.set(1)
        backoff = Backoff(min(self.poll_seconds, 0.5), 5.0)
        try:
            while not stop.is_set():
                try:
                    await self.sweep(stop)
                except Exception as exc:
                    delay = backoff.next_delay()
                    if is_unavailable(exc):
                        log.warning(
                            "deadlines: database unavailable (%s); retry in %.1fs", exc, delay
                        )
                    else:
                        log.exception("deadlines: the sweep failed; retry in %.1fs", delay)
                    await pause(stop, delay)
                    continue
                backoff.reset()
                await pause(stop, self.poll_seconds)
        finally:
            ALIVE.set(0)

    async def _fire_batch(self, batch: list[Deadline]) -> int:
        by_order: dict[int, list[Deadline]] = {}
        for deadline in batch:
            by_order.setdefault(deadline.order_id, []).append(deadline)
        gate = asyncio.Semaphore(self.concurrency)

        async def fire_in_turn(deadlines: list[Deadline]) -> int:
            async with gate:
                return sum([await self._fire(deadline) for deadline in deadlines])

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(fire_in_turn(d)) for d in by_order.values()]
        except ExceptionGroup as failed:  # the database went away: the sweep stops
            raise failed.exceptions[0] from None
        return sum(task.result() for task in tasks)

    async def _fire(self, deadline: Deadline) -> int:
        rule = deadline.rule
        try:
            changed = await self.service.fire_deadline(deadline)
        except Exception as exc:
            if is_unavailable(exc):
                raise
            # One broken deadline must not hold up the others; it is retried next sweep.
            level = logging.WARNING if isinstance(exc, Rejected) else logging.ERROR
            log.log(
                level,
                "deadlines: rule %s on order %d failed",
                rule.code,
                deadline.order_id,
                exc_info=not isinstance(exc, Rejected),
            )
            return 0
        if changed is None:
            return 0
        FIRED.labels(rule.code).inc()
        LATENESS.observe(max((changed.updated_at - deadline.at).total_seconds(), 0.0))
        return 1

    @asynccontextmanager
    async def _batch_lock(self) -> AsyncIterator[bool]:
        """Whether this runner may fire a batch now: nobody else, in this process or another."""
        if self._local.locked():
            yield False
            return
        async with self._local:
            if self.db.is_sqlite:  # one process: the local lock is all there is
                yield True
                return
            conn = await self.db.engine.connect()
            # Autocommit: the lock is the session's; no transaction stays open for the sweep.
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            acquired = False
            try:
                lock = text("SELECT pg_try_advisory_lock(:key)")
                acquired = bool((await conn.execute(lock, {"key": BATCH_LOCK})).scalar_one())
                yield acquired
            finally:
                await _release(conn, acquired)


async def _release(conn: AsyncConnection, acquired: bool) -> None:
    try:
        if acquired:
            await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": BATCH_LOCK})
    except SQLAlchemyError:
        # A broken session took its lock with it; the pool must never hand it out again.
        await conn.invalidate()
    finally:
        await conn.close()
