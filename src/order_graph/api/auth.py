"""Turning a request's credentials into a `Principal`."""

from __future__ import annotations

import logging

from starlette.websockets import WebSocket

from order_graph.api.key_cache import KeyCache
from order_graph.api.open_sockets import OpenSockets
from order_graph.domain.access import Principal
from order_graph.storage import clients
from order_graph.storage.database import Database

logger = logging.getLogger(__name__)

NOBODY = Principal("unauthenticated", frozenset())


class Unauthenticated(Exception):
    pass


def _invalid() -> Unauthenticated:
    return Unauthenticated("This API key is not valid (unknown or revoked).")


class Authenticator:
    """Resolves API keys, remembering each answer for `cache_seconds` to spare the database
    (`key_cache.py`), and re-checks the keys of open websockets as often (`open_sockets.py`).

    A revoked key therefore stops working within `cache_seconds`, on HTTP and websockets alike.
    """

    def __init__(self, db: Database, required: bool, cache_seconds: float) -> None:
        self.db = db
        self.required = required
        self.cache = KeyCache(cache_seconds)
        self.sockets = OpenSockets(db, self.cache, cache_seconds if cache_seconds > 0 else 1.0)
        if not required:
            logger.warning(
                "AUTHENTICATION IS OFF (ORDER_GRAPH_AUTH=off): every caller may read and change "
                "every order. Use this only on a developer machine."
            )

    def start(self) -> None:
        if self.required:
            self.sockets.start()

    async def stop(self) -> None:
        await self.sockets.stop()

    async def principal(self, authorization: str | None, client_id: str | None) -> Principal:
        if not self.required:
            return Principal.trusted((client_id or "anonymous")[:128])
        key = _key(authorization)
        if not clients.looks_like_key(key):
            raise _invalid()  # not a key this service issues: no need to ask the database
        digest = clients.key_hash(key)
        # The usual case, a key remembered: answered here, without awaiting the look-up.
        found = self.cache.known(digest)
        if found is None:
            found = await self._lookup(key, digest)
        if found is None:
            raise _invalid()
        return found

    def watch(self, authorization: str | None, socket: WebSocket) -> None:
        """Re-checks the key of an authenticated websocket for as long as it is open."""
        if self.required:
            self.sockets.add(clients.key_hash(_key(authorization)), socket)

    async def _lookup(self, key: str, digest: str) -> Principal | None:
        if self.cache.unknown(digest):
            return None
        async with self.db.read() as conn:
            found = await clients.authenticate(conn, key)
        self.cache.remember(digest, found)
        return found


def _key(authorization: str | None) -> str:
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthenticated("Send an API key: `Authorization: Bearer <key>`.")
    return key.strip()
