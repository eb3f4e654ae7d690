"""The database handle: one async engine, and transactions that suit each dialect."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine


class Database:
    def __init__(self, url: str, pool_size: int = 20) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        options: dict[str, Any] = {}
        if not self.is_sqlite:
            # Fail fast while PostgreSQL is away rather than hang: callers get a retryable error.
            options = {
                # A fixed pool: overflow connections would be opened and closed under load,
                # each paying a connection handshake.
                "pool_size": pool_size,
                "max_overflow": 0,
                # No ping per checkout (a round trip on every request): a dead connection is
                # found on use, which invalidates the pool; that request answers UNAVAILABLE.
                "pool_timeout": 5,
                # The statement timeout is PostgreSQL's own: a client-side one would arm a timer
                # around every query.
                "connect_args": {"timeout": 5, "server_settings": {"statement_timeout": "30000"}},
            }
        self.engine: AsyncEngine = create_async_engine(url, **options)
        # Reads run in autocommit: no BEGIN before and no ROLLBACK after each one, which would
        # otherwise triple the round trips of a read. Each statement sees a committed snapshot.
        self.reader: AsyncEngine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        # SQLite allows one writer at a time; queueing writers here, rather than letting them
        # race for the file lock, turns "database is locked" into a short wait.
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that commits when the block ends without an exception."""
        if self._write_lock is None:
            async with self.engine.begin() as connection:
                yield connection
            return
        async with self._write_lock, self.engine.begin() as connection:
            yield connection

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.reader.connect() as connection:
            yield connection

    def connections_in_use(self) -> int:
        pool = self.engine.sync_engine.pool
        return int(getattr(pool, "checkedout", lambda: 0)())

    async def dispose(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
