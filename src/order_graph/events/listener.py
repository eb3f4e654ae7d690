"""One LISTEN connection per process: PostgreSQL's NOTIFY wakes the hub within milliseconds.

The notification carries only a position; the hub reads events from the table. After a lost
connection (a restart, `pg_terminate_backend`) the listener reconnects with backoff and wakes
the hub once, which catches up from the table, so nothing is lost while it was away.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from order_graph.events.log import CHANNEL

logger = logging.getLogger(__name__)

APPLICATION_NAME = "order-graph-listener"
HEALTH_CHECK_SECONDS = 10.0


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(False)


class PostgresListener:
    def __init__(self, database_url: str, on_notify: Callable[[], None]) -> None:
        self.dsn = asyncpg_dsn(database_url)
        self.on_notify = on_notify
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="postgres-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                await self._listen()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                logger.warning("event listener lost PostgreSQL (%s); reconnecting", exc)
            except Exception:
                # Whatever went wrong, this process must not stop hearing other processes.
                logger.exception("event listener failed; reconnecting")
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _listen(self) -> None:
        conn = await asyncpg.connect(
            self.dsn, server_settings={"application_name": APPLICATION_NAME}, timeout=10
        )
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(CHANNEL, self._notified)
            self.on_notify()  # catch up on whatever committed while we were not listening
            while not lost.is_set():
                try:
                    await asyncio.wait_for(lost.wait(), HEALTH_CHECK_SECONDS)
                except TimeoutError:
                    await conn.execute("SELECT 1", timeout=5)
            raise ConnectionResetError("listener connection closed")
        finally:
            if not conn.is_closed():
                conn.terminate()

    def _notified(self, *_args: Any) -> None:
        self.on_notify()
