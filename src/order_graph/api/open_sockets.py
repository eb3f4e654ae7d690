"""Open websockets and the API keys they authenticated with.

A websocket lives longer than a remembered key look-up, so every `interval` seconds the keys of
all open websockets are looked up again, in one query, and every socket whose key is gone
(revoked) is closed with 4403: its subscriptions end and it can start no new operation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref

from starlette.websockets import WebSocket, WebSocketState

from order_graph.api.key_cache import KeyCache
from order_graph.storage import clients
from order_graph.storage.database import Database

logger = logging.getLogger(__name__)

REVOKED = 4403


class OpenSockets:
    def __init__(self, db: Database, cache: KeyCache, interval: float) -> None:
        self.db = db
        self.cache = cache
        self.interval = interval
        # Weak: a socket that has ended drops out by itself.
        self._by_key: dict[str, weakref.WeakSet[WebSocket]] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, digest: str, socket: WebSocket) -> None:
        self._by_key.setdefault(digest, weakref.WeakSet()).add(socket)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="re-check websocket keys")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.recheck()
            except Exception as exc:
                # The database is away: the sockets stay open until a check succeeds.
                logger.warning(
                    "could not re-check the API keys of open websockets (%s)", type(exc).__name__
                )

    async def recheck(self) -> int:
        """Closes the sockets whose key was revoked; returns how many."""
        open_by_key = {
            digest: [socket for socket in sockets if _is_open(socket)]
            for digest, sockets in self._by_key.items()
        }
        for digest in [digest for digest, sockets in open_by_key.items() if not sockets]:
            del open_by_key[digest], self._by_key[digest]
        if not open_by_key:
            return 0
        async with self.db.read() as conn:
            active = await clients.active(conn, open_by_key.keys())
        closed = 0
        for digest, sockets in open_by_key.items():
            principal = active.get(digest)
            self.cache.remember(digest, principal)  # HTTP requests with the key learn it too
            if principal is None:
                del self._by_key[digest]
                for socket in sockets:
                    await _close(socket)
                    closed += 1
        return closed


def _is_open(socket: WebSocket) -> bool:
    return (
        socket.client_state is WebSocketState.CONNECTED
        and socket.application_state is WebSocketState.CONNECTED
    )


async def _close(socket: WebSocket) -> None:
    with contextlib.suppress(RuntimeError, OSError):  # it ended meanwhile
        await socket.close(code=REVOKED, reason="This API key was revoked.")
