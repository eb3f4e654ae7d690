"""Idempotency keys: per client and operation, the request's fingerprint and the order it made."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from order_graph.domain.model import OrderRecord
from order_graph.storage import codes, driver
from order_graph.storage.json import dumps
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


_RECALL = select(table.c.request_hash, table.c.order_id, table.c.result).where(
    table.c.client == bindparam("client"),
    table.c.operation == bindparam("operation"),
    table.c.key == bindparam("key"),
)
_PG_RECALL = (
    "SELECT request_hash, order_id, result FROM idempotency_keys "
    "WHERE client = $1 AND operation = $2 AND key = $3"
)
_REMEMBER = insert(table)
_PG_REMEMBER = (
    "INSERT INTO idempotency_keys (client, operation, key, request_hash, order_id, result, "
    "created_at, store_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
)


async def recall(conn: AsyncConnection, client: str, operation: str, key: str) -> Remembered | None:
    pg = await driver.of(conn)
    if pg is not None:
        row: Any = await pg.fetchrow(_PG_RECALL, client, operation, key)
    else:
        params = {"client": client, "operation": operation, "key": key}
        row = (await conn.execute(_RECALL, params)).first()
    if row is None:
        return None
    request_hash, order_id, result = row
    return Remembered(request_hash, order_id, None if result is None else from_snapshot(result))


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
    kept = None if result is None else snapshot(result)
    pg = await driver.of(conn)
    if pg is not None:
        stored = None if kept is None else dumps(kept)
        await pg.execute(
            _PG_REMEMBER, client, operation, key, request_hash, order_id, stored, now, store_id
        )
        return
    values = {
        "store_id": store_id,
        "client": client,
        "operation": operation,
        "key": key,
        "request_hash": request_hash,
        "order_id": order_id,
        "result": kept,
        "created_at": now,
    }
    await conn.execute(_REMEMBER, values)


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
