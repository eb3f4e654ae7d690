"""Client applications and their API keys. Only a SHA-256 of each key is stored.

A key carries 256 random bits, so a fast hash is enough: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from order_graph.domain.access import Principal, parse_scopes
from order_graph.storage.tables import clients as table

KEY_PREFIX = "og_"
# What `new_key` makes: the prefix and 32 random bytes in URL-safe base64 (43 characters).
_KEY_SHAPE = re.compile(re.escape(KEY_PREFIX) + r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True, slots=True)
class ClientInfo:
    principal: Principal
    created_at: datetime
    revoked_at: datetime | None


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def looks_like_key(key: str) -> bool:
    """Whether `key` could be one this service issued; anything else is refused unlooked-up."""
    return _KEY_SHAPE.fullmatch(key) is not None


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _principal(
    name: str, scopes: list[str], store_ids: list[str] | None, documents_only: bool = False
) -> Principal:
    stores = None if store_ids is None else frozenset(store_ids)
    return Principal(name, parse_scopes(scopes), stores, bool(documents_only))


_COLUMNS = (table.c.name, table.c.scopes, table.c.store_ids, table.c.trusted_documents_only)


async def create(conn: AsyncConnection, principal: Principal, key: str, now: datetime) -> None:
    values = {
        "name": principal.name,
        "key_hash": key_hash(key),
        "scopes": sorted(principal.scopes),
        "store_ids": None if principal.store_ids is None else sorted(principal.store_ids),
        "trusted_documents_only": principal.trusted_documents_only,
        "created_at": now,
    }
    await conn.execute(insert(table), values)


async def authenticate(conn: AsyncConnection, key: str) -> Principal | None:
    statement = select(*_COLUMNS).where(
        table.c.key_hash == key_hash(key), table.c.revoked_at.is_(None)
    )
    row = (await conn.execute(statement)).first()
    return None if row is None else _principal(*row)


async def active(conn: AsyncConnection, digests: Collection[str]) -> dict[str, Principal]:
    """The clients of those key hashes that are not revoked, by key hash."""
    found: dict[str, Principal] = {}
    wanted = sorted(digests)
    for start in range(0, len(wanted), 500):  # a bounded number of bind parameters each
        statement = select(table.c.key_hash, *_COLUMNS).where(
            table.c.key_hash.in_(wanted[start : start + 500]), table.c.revoked_at.is_(None)
        )
        for digest, *row in await conn.execute(statement):
            found[digest] = _principal(*row)
    return found


async def list_all(conn: AsyncConnection) -> list[ClientInfo]:
    rows = await conn.execute(select(table).order_by(table.c.name))
    return [
        ClientInfo(
            _principal(r.name, r.scopes, r.store_ids, r.trusted_documents_only),
            r.created_at,
            r.revoked_at,
        )
        for r in rows
    ]


async def revoke(conn: AsyncConnection, name: str, now: datetime) -> bool:
    result = await conn.execute(
        update(table)
        .where(table.c.name == name, table.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount == 1


async def restrict_documents(conn: AsyncConnection, name: str, only: bool) -> bool:
    """Restricts an active client to registered documents (or lifts it); False: no such client.
    It applies once the client's key is looked up again (`auth_cache_seconds` at most)."""
    result = await conn.execute(
        update(table)
        .where(table.c.name == name, table.c.revoked_at.is_(None))
        .values(trusted_documents_only=only)
    )
    return result.rowcount == 1
