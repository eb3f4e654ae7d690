"""One active relay per stream: a PostgreSQL session-level advisory lock elects it.

The lock lives as long as the session that took it, so the connection holding it is kept for
the whole term and also carries the relay's state reads and writes: when that connection dies
(the process was killed, PostgreSQL restarted) the lock is gone, the next state query fails and
this relay stops publishing. Standby relays retry the lock every few seconds and take over.
On SQLite (one process, embedded) there is nobody to coordinate with, so the relay just runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from order_graph.relay import state
from order_graph.relay.timing import pause
from order_graph.storage.database import Database

log = logging.getLogger(__name__)


class Lease(Protocol):
    """What the active relay may do: read and advance its position, and check it still leads."""

    async def load_position(self) -> int: ...

    async def save_position(self, position: int) -> None: ...

    async def confirm(self) -> None: ...


def lock_key(stream: str) -> int:
    """A stable signed 64-bit advisory lock key for one stream."""
    digest = hashlib.sha256(f"order-graph-relay:{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class _LockHolderLease:
    def __init__(self, conn: AsyncConnection, stream: str) -> None:
        self._conn = conn
        self._stream = stream

    async def load_position(self) -> int:
        return await state.load_position(self._conn, self._stream)

    async def save_position(self, position: int) -> None:
        await state.save_position(self._conn, self._stream, position)

    async def confirm(self) -> None:
        # Fails when the session, and with it the lock, is gone.
        await self._conn.execute(select(1))


class _SqliteLease:
    def __init__(self, db: Database, stream: str) -> None:
        self._db = db
        self._stream = stream

    async def load_position(self) -> int:
        async with self._db.read() as conn:
            return await state.load_position(conn, self._stream)

    async def save_position(self, position: int) -> None:
        async with self._db.write() as conn:
            await state.save_position(conn, self._stream, position)

    async def confirm(self) -> None:
        return None


@asynccontextmanager
async def leadership(
    db: Database, stream: str, stop: asyncio.Event, standby_seconds: float
) -> AsyncIterator[Lease | None]:
    """Waits until this relay leads for `stream`; yields None when stopped while standing by."""
    if db.is_sqlite:
        yield _SqliteLease(db, stream)
        return
    key = lock_key(stream)
    standing_by = False
    while not stop.is_set():
        conn = await db.engine.connect()
        # Autocommit: the lock is per session, and no statement should hold a transaction open
        # for the whole term.
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        acquired = False
        try:
            lock = text("SELECT pg_try_advisory_lock(:key)")
            acquired = bool((await conn.execute(lock, {"key": key})).scalar_one())
            if acquired:
                log.info("relay active for stream %s (holds advisory lock %d)", stream, key)
                yield _LockHolderLease(conn, stream)
                return
        finally:
            await _release(conn, key if acquired else None)
        if not standing_by:
            log.info("another relay is active for stream %s; standing by", stream)
            standing_by = True
        await pause(stop, standby_seconds)
    yield None


async def _release(conn: AsyncConnection, key: int | None) -> None:
    try:
        if key is not None:
            await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    except SQLAlchemyError:
        # A broken session took its lock with it; make sure the pool never hands it out again.
        await conn.invalidate()
    finally:
        await conn.close()
