"""Idempotency keys: per client and operation, the request's fingerprint and the order it made."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from order_graph.storage.tables import idempotency_keys as table


@dataclass(frozen=True, slots=True)
class Remembered:
    request_hash: str
    order_id: int


def fingerprint(request: Any) -> str:
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def recall(conn: AsyncConnection, client: str, operation: str, key: str) -> Remembered | None:
    statement = select(table.c.request_hash, table.c.order_id).where(
        table.c.client == client, table.c.operation == operation, table.c.key == key
    )
    row = (await conn.execute(statement)).first()
    return Remembered(row.request_hash, row.order_id) if row else None


async def remember(
    conn: AsyncConnection,
    client: str,
    operation: str,
    key: str,
    request_hash: str,
    order_id: int,
    now: datetime,
) -> None:
    values = {
        "client": client,
        "operation": operation,
        "key": key,
        "request_hash": request_hash,
        "order_id": order_id,
        "created_at": now,
    }
    await conn.execute(insert(table), values)


async def forget_before(conn: AsyncConnection, cutoff: datetime) -> int:
    result = await conn.execute(delete(table).where(table.c.created_at < cutoff))
    return result.rowcount
