"""Idempotency keys: per client and operation, the request's fingerprint and the order it made."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from order_graph.domain.model import OrderRecord
from order_graph.storage import codes
from order_graph.storage.tables import idempotency_keys as table


@dataclass(frozen=True, slots=True)
class Remembered:
    request_hash: str
    order_id: int
    result: OrderRecord | None


def fingerprint(request: Any) -> str:
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=_canonical)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _canonical(value: Any) -> str:
    # "28", "28.0" and "28.00" are one amount: a retry must not read as another request.
    if isinstance(value, Decimal) and value.is_finite():
        return str(value.normalize())
    return str(value)


async def recall(conn: AsyncConnection, client: str, operation: str, key: str) -> Remembered | None:
    statement = select(table.c.request_hash, table.c.order_id, table.c.result).where(
        table.c.client == client, table.c.operation == operation, table.c.key == key
    )
    row = (await conn.execute(statement)).first()
    if row is None:
        return None
    result = None if row.result is None else from_snapshot(row.result)
    return Remembered(row.request_hash, row.order_id, result)


async def remember(
    conn: AsyncConnection,
    client: str,
    operation: str,
    key: str,
    request_hash: str,
    order_id: int,
    now: datetime,
    result: OrderRecord | None = None,
    *,
    store_id: str,
) -> None:
    values = {
        "store_id": store_id,
        "client": client,
        "operation": operation,
        "key": key,
        "request_hash": request_hash,
        "order_id": order_id,
        "result": None if result is None else snapshot(result),
        "created_at": now,
    }
    await conn.execute(insert(table), values)


def snapshot(order: OrderRecord) -> dict[str, Any]:
    values = dataclasses.asdict(order)
    values["created_at"] = order.created_at.isoformat()
    values["updated_at"] = order.updated_at.isoformat()
    return values


def from_snapshot(values: dict[str, Any]) -> OrderRecord:
    return OrderRecord(
        **{
            **values,
            "channel": codes.CHANNEL[values["channel"]],
            "fulfillment_type": codes.FULFILLMENT_TYPE[values["fulfillment_type"]],
            "main_status": codes.MAIN_STATUS[values["main_status"]],
            "created_at": datetime.fromisoformat(values["created_at"]),
            "updated_at": datetime.fromisoformat(values["updated_at"]),
        }
    )


async def forget_before(conn: AsyncConnection, cutoff: datetime) -> int:
    result = await conn.execute(delete(table).where(table.c.created_at < cutoff))
    return result.rowcount
