"""Driver connections for the compiled reads, borrowed from the engine's pool and kept.

A checkout from SQLAlchemy's asyncio pool and its return cost two greenlet switches each, a
sixth of a small read's CPU. The lane borrows up to `size` connections (half the pool: writes
and the standard executor keep the rest), and lends them to one read at a time, in memory.
No connection is added to the database's count. A connection that fails is given back to be
discarded, and with it the idle ones, as SQLAlchemy drops the whole pool on a disconnect.
"""

from __future__ import annotations

import asyncio
from collections import deque

from sqlalchemy.engine.interfaces import PoolProxiedConnection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import greenlet_spawn


class ReadLane:
    def __init__(self, engine: AsyncEngine, size: int, timeout: float) -> None:
        self._engine = engine
        self._size = size
        self._timeout = timeout
        self._idle: list[PoolProxiedConnection] = []
        self._borrowed = 0
        # Reads waiting for a connection: each gets one, or None (borrow one: a place is free).
        self._waiting: deque[asyncio.Future[PoolProxiedConnection | None]] = deque()

    @property
    def idle(self) -> int:
        return len(self._idle)

    async def acquire(self) -> PoolProxiedConnection:
        while True:
            if self._idle:
                return self._idle.pop()
            if self._borrowed < self._size:
                self._borrowed += 1
                try:
                    return await self._engine.raw_connection()
                except BaseException:
                    self._give_place()
                    raise
            found = await self._wait()
            if found is not None:
                return found

    async def _wait(self) -> PoolProxiedConnection | None:
        future: asyncio.Future[PoolProxiedConnection | None] = (
            asyncio.get_running_loop().create_future()
        )
        self._waiting.append(future)
        try:
            async with asyncio.timeout(self._timeout):  # as the pool's checkout timeout
                return await future
        except BaseException:
            if future.done() and not future.cancelled():  # handed over as the wait ended
                handed = future.result()
                if handed is None:
                    self._pass_place()  # the place it was given (already counted free)
                else:
                    self.release(handed)
            raise

    def release(self, connection: PoolProxiedConnection) -> None:
        """A healthy connection, back to the next waiting read or to the idle ones."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        self._idle.append(connection)

    async def discard(self, invalidated: PoolProxiedConnection | None) -> None:
        """After a failure: `invalidated` (which its invalidation gave back to the pool)
        leaves the lane, and every idle connection goes back to the pool, which replaces
        those older than its invalidation."""
        if invalidated is not None:
            self._give_place()
        idle = list(self._idle)
        self._idle.clear()
        for connection in idle:
            self._give_place()
            await greenlet_spawn(connection.close)

    def _give_place(self) -> None:
        self._borrowed -= 1
        self._pass_place()

    def _pass_place(self) -> None:
        """A free place to the next waiting read (it borrows a connection for it)."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def close(self) -> None:
        await self.discard(None)
