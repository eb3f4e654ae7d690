"""The database handle: one async engine, and transactions that suit each dialect."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from order_graph.storage.fast_reads import Connection, PostgresReads, Reads
from order_graph.storage.fast_reads_sqlite import SqliteReads
from order_graph.storage.read_lane import ReadLane


@dataclass(frozen=True)
class Timeouts:
    """How long PostgreSQL may take, in seconds, before the caller gets a retryable error: to
    open a connection, to free one from the pool, and to answer a statement. The defaults suit
    the command line's jobs; the server passes its settings (much shorter)."""

    connect: float = 5.0
    checkout: float = 5.0
    statement: float = 30.0


class Database:
    def __init__(self, url: str, pool_size: int = 20, timeouts: Timeouts | None = None) -> None:
        timeouts = timeouts or Timeouts()
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # Failure lines name the statement, never its values (customer ids, key hashes).
        options: dict[str, Any] = {"hide_parameters": True}
        if not self.is_sqlite:
            options |= {
                # A fixed pool: overflow connections would be opened and closed under load,
                # each paying a connection handshake.
                "pool_size": pool_size,
                "max_overflow": 0,
                # No ping per checkout (a round trip on every request): a dead connection is
                # found on use, which invalidates the pool; that request answers UNAVAILABLE.
                "pool_timeout": timeouts.checkout,
                "connect_args": _connect_args(timeouts),
            }
        # orjson for JSON (the stdlib's decoder is a visible share of a list's CPU); on
        # asyncpg the dialect installs it as the driver's codec, so JSONB arrives decoded also
        # on the raw connections of `snapshot`, inside records too.
        options["json_deserializer"] = orjson.loads
        self.engine: AsyncEngine = create_async_engine(url, **options)
        self._lane = (
            None
            if self.is_sqlite
            else ReadLane(self.engine, max(1, pool_size // 2), timeouts.checkout)
        )

        # Readiness probes keep a connection of their own (more only while probes overlap), so
        # a busy pool does not read as an outage, and a full server does not either.
        self.probe: AsyncEngine = (
            self.engine
            if self.is_sqlite
            else create_async_engine(
                url,
                pool_size=1,
                max_overflow=2,
                pool_timeout=timeouts.checkout,
                hide_parameters=True,
                connect_args=_connect_args(timeouts),
            )
        )
        if not self.is_sqlite:
            for engine in (self.engine, self.probe):
                event.listen(engine.sync_engine, "handle_error", _stalled_is_disconnected)
        # Reads run in autocommit: no BEGIN before and no ROLLBACK after each one, which would
        # otherwise triple the round trips of a read. Each statement sees a committed snapshot.
        self.reader: AsyncEngine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        # SQLite allows one writer at a time; queueing writers here, rather than letting them
        # race for the file lock, turns "database is locked" into a short wait.
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)

    def observe_statements(self, observer: Callable[..., None]) -> Callable[[], None]:
        """Calls `observer` for every statement sent from now on, on every path: SQLAlchemy's
        and the driver connections of `snapshot`. For tests and diagnostics (the statement
        counts of a request); while none is registered it costs nothing. Returns `stop`."""
        event.listen(self.engine.sync_engine, "before_cursor_execute", observer)
        return lambda: event.remove(self.engine.sync_engine, "before_cursor_execute", observer)

    def _observed(self, driver: asyncpg.Connection) -> Connection:
        plain: Connection = driver
        dispatch = self.engine.sync_engine.dispatch
        # Listeners that time statements (tracing's spans) need SQLAlchemy's cursor: they are
        # left out here, as `driver.of` leaves the write path to SQLAlchemy for them.
        if not dispatch.before_cursor_execute or dispatch.after_cursor_execute:
            return plain
        return _Observed(driver, tuple(dispatch.before_cursor_execute))

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

    @asynccontextmanager
    async def snapshot(self, statements: int = 1) -> AsyncIterator[Reads]:
        """The compiled queries' reads (storage/fast_reads.py). On PostgreSQL they run on a
        driver connection of the read lane: one statement sees one snapshot, and more than
        one share a REPEATABLE READ READ ONLY transaction."""
        if self._lane is None:
            async with self.read() as connection:
                yield SqliteReads(connection)
            return
        pooled = await self._lane.acquire()
        driver: asyncpg.Connection = pooled.driver_connection
        try:
            if statements == 1:
                yield PostgresReads(self._observed(driver))
            else:
                async with driver.transaction(isolation="repeatable_read", readonly=True):
                    yield PostgresReads(self._observed(driver))
        except Exception as exc:
            lost = isinstance(exc, TimeoutError | OSError) or (
                isinstance(exc, asyncpg.InterfaceError | asyncpg.InternalClientError)
                and driver.is_closed()
            )
            if not lost:
                self._lane.release(pooled)
                raise
            # As `_stalled_is_disconnected` and SQLAlchemy's disconnect handling do: this
            # connection is cut, and every one opened before it is replaced.
            driver.terminate()
            self.engine.sync_engine.pool._invalidate(pooled, exc)
            await self._lane.discard(pooled)
            if isinstance(exc, TimeoutError):
                raise
            raise ConnectionError("the database connection was lost") from exc
        except BaseException:
            # Cancelled mid-statement: the connection's state is unknown.
            driver.terminate()
            pooled.invalidate()
            await self._lane.discard(pooled)
            raise
        self._lane.release(pooled)

    def connections_in_use(self) -> int:
        pool = self.engine.sync_engine.pool
        lent = 0 if self._lane is None else self._lane.idle  # kept by the lane, not in use
        return int(getattr(pool, "checkedout", lambda: 0)()) - lent

    async def dispose(self) -> None:
        if self._lane is not None:
            await self._lane.close()
        await self.engine.dispose()
        if self.probe is not self.engine:
            await self.probe.dispose()


def _connect_args(timeouts: Timeouts) -> dict[str, Any]:
    return {
        "timeout": timeouts.connect,
        # PostgreSQL cancels a statement past its timeout (`57014`, retryable). When no answer
        # comes at all (packets dropped, a stalled proxy), the driver's own timer, a second
        # later, gives up on the connection: a timer per statement, about 1% of a simple read.
        "server_settings": {"statement_timeout": str(int(timeouts.statement * 1000))},
        "command_timeout": timeouts.statement + 1,
    }


def _stalled_is_disconnected(context: ExceptionContext) -> None:
    """A statement that got no answer in time leaves its connection in an unknown state:
    treating it as a disconnect drops it, and every connection opened before it, so that the
    pool starts afresh as soon as the database answers again. It is cut at once: a polite
    close would wait for the database that just did not answer."""
    if isinstance(context.original_exception, TimeoutError):
        context.is_disconnect = True
        if context.connection is not None:
            driver = context.connection.connection.driver_connection
            if driver is not None:
                driver.terminate()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class _Observed:
    """A driver connection that tells the observers of each statement before sending it (as
    SQLAlchemy's `before_cursor_execute` does; asyncpg's own query loggers run later, from the
    event loop, after the answer may have been counted)."""

    def __init__(self, driver: asyncpg.Connection, observers: tuple[Callable[..., None], ...]):
        self._driver = driver
        self._observers = observers

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        for observer in self._observers:  # as SQLAlchemy calls them (and `Driver` does)
            observer(None, None, query, args, None, False)
        return list(await self._driver.fetch(query, *args))
