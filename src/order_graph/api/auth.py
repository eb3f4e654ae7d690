"""Turning a request's credentials into a `Principal`, and checking it in resolvers."""

from __future__ import annotations

import logging
import time

from order_graph.domain.access import Principal
from order_graph.storage import clients
from order_graph.storage.database import Database

logger = logging.getLogger(__name__)

NOBODY = Principal("unauthenticated", frozenset())


class Unauthenticated(Exception):
    pass


class Authenticator:
    """Resolves API keys, remembering each answer for `cache_seconds` to spare the database.

    A revoked key therefore stops working within `cache_seconds`.
    """

    def __init__(self, db: Database, required: bool, cache_seconds: float) -> None:
        self.db = db
        self.required = required
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        if not required:
            logger.warning(
                "AUTHENTICATION IS OFF (ORDER_GRAPH_AUTH=off): every caller may read and change "
                "every order. Use this only on a developer machine."
            )

    async def principal(self, authorization: str | None, client_id: str | None) -> Principal:
        if not self.required:
            return Principal.trusted((client_id or "anonymous")[:128])
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthenticated("Send an API key: `Authorization: Bearer <key>`.")
        found = await self._lookup(key.strip())
        if found is None:
            raise Unauthenticated("This API key is not valid (unknown or revoked).")
        return found

    async def _lookup(self, key: str) -> Principal | None:
        digest = clients.key_hash(key)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self.db.read() as conn:
            found = await clients.authenticate(conn, key)
        if self.cache_seconds > 0:
            if len(self._cache) > 10_000:  # bounded: unknown keys must not grow it forever
                self._cache.clear()
            self._cache[digest] = (now + self.cache_seconds, found)
        return found
