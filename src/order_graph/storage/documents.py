"""Trusted documents as stored: registered once by an admin, seen by every process."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from order_graph.storage.tables import trusted_documents as table


@dataclass(frozen=True, slots=True)
class StoredDocument:
    id: str  # the SHA-256 of the body, hex
    body: str
    registered_by: str
    registered_at: datetime


_BODY = select(table.c.body).where(table.c.id == bindparam("id"))


async def body_of(conn: AsyncConnection, digest: str) -> str | None:
    return (await conn.execute(_BODY, {"id": digest})).scalar_one_or_none()


async def register(conn: AsyncConnection, digest: str, body: str, by: str, now: datetime) -> bool:
    """Stores the document unless it is stored already; False: it was (ids never change), also
    when another registration of it commits at the same time."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).on_conflict_do_nothing(index_elements=[table.c.id])
    values = {"id": digest, "body": body, "registered_by": by, "registered_at": now}
    return (await conn.execute(statement, values)).rowcount == 1


async def list_all(conn: AsyncConnection) -> list[StoredDocument]:
    rows = await conn.execute(select(table).order_by(table.c.registered_at, table.c.id))
    return [StoredDocument(*row) for row in rows]
