"""PostgreSQL's hot write statements, sent on the driver inside SQLAlchemy's transaction.

A mutation runs a handful of fixed statements. Through SQLAlchemy each one costs an execution
context, a cache-key look-up and result wrapping, more CPU than the statement's round trip;
sent on the asyncpg connection underneath, each fixed text is prepared once per connection
(asyncpg's statement cache) and then only bound and executed. The statements stay in the
transaction SQLAlchemy opened (`Database.write`), so they commit or roll back with everything
else in it, and a failure reaches the caller as the SQLAlchemy error it would have raised: a
unique-key race is still an `IntegrityError` (`races.py`), a lost connection is invalidated
and reads as unavailable. On SQLite `of` answers None and the callers use SQLAlchemy Core.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection


class Driver:
    """The asyncpg connection of one SQLAlchemy connection, in its transaction."""

    __slots__ = ("_conn", "_driver", "_raw")

    def __init__(self, conn: AsyncConnection, raw: Any) -> None:
        self._conn = conn
        self._raw = raw
        self._driver: asyncpg.Connection = raw.driver_connection

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        self._observed(sql, args)
        try:
            rows: list[asyncpg.Record] = await self._driver.fetch(sql, *args)
        except Exception as error:
            raise await self._translated(sql, error) from error
        return rows

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        self._observed(sql, args)
        try:
            return await self._driver.fetchrow(sql, *args)
        except Exception as error:
            raise await self._translated(sql, error) from error

    async def fetchval(self, sql: str, *args: Any) -> Any:
        self._observed(sql, args)
        try:
            return await self._driver.fetchval(sql, *args)
        except Exception as error:
            raise await self._translated(sql, error) from error

    async def execute(self, sql: str, *args: Any) -> str:
        """The command's status, e.g. `UPDATE 1`."""
        self._observed(sql, args)
        try:
            status: str = await self._driver.execute(sql, *args)
        except Exception as error:
            raise await self._translated(sql, error) from error
        return status

    def _observed(self, sql: str, args: tuple[Any, ...]) -> None:
        """Tells the engine's `before_cursor_execute` listeners (a statement count, a log) of
        the statement, as SQLAlchemy would: they see the statements that are really sent."""
        listeners = self._conn.sync_engine.dispatch.before_cursor_execute
        if listeners:
            for listener in listeners:
                listener(self._conn.sync_connection, None, sql, args, None, False)

    async def _translated(self, sql: str, error: Any) -> BaseException:
        """The error as SQLAlchemy would have raised it for this statement."""
        dialect = self._conn.dialect
        adapter = self._raw.dbapi_connection
        try:
            adapter._handle_exception(error)  # raises the DB-API error standing for it
        except Exception as adapted:
            error = adapted
        stalled = isinstance(error, TimeoutError)
        lost = stalled or dialect.is_disconnect(error, adapter, None)
        if lost:
            # As database.py does for SQLAlchemy's statements: a connection that did not
            # answer, or dropped, is cut and leaves the pool.
            if stalled:
                self._driver.terminate()
            await self._conn.invalidate(error)
        assert dialect.dbapi is not None
        if not isinstance(error, dialect.dbapi.Error):
            unwrapped: BaseException = error  # SQLAlchemy lets these through as they are too
            return unwrapped
        return DBAPIError.instance(
            sql,
            None,
            error,
            dialect.dbapi.Error,
            hide_parameters=True,
            connection_invalidated=lost,
            dialect=dialect,
        )


async def of(conn: AsyncConnection) -> Driver | None:
    """The driver under `conn`, with its transaction begun; None on SQLite, and None while
    something times the engine's statements (tracing's spans, which end in
    `after_cursor_execute`): then SQLAlchemy sends them all. Listeners that only look at a
    statement before it goes (`before_cursor_execute`: statement counts) are told by `Driver`."""
    if conn.dialect.name != "postgresql" or conn.sync_engine.dispatch.after_cursor_execute:
        return None
    raw = await conn.get_raw_connection()
    adapted: Any = raw.dbapi_connection
    # SQLAlchemy's asyncpg adapter sends BEGIN lazily, with its first statement: when this
    # is the first, it must go now, or the statements here would each commit on their own.
    found = Driver(conn, raw)
    if conn.in_transaction() and getattr(adapted, "_transaction", True) is None:
        try:
            await adapted._start_transaction()
        except Exception as error:  # e.g. a pooled connection the server has closed
            raise await found._translated("BEGIN", error) from error
    return found
