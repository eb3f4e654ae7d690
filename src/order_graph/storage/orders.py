"""Reading and writing orders with their items, discounts and status history."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import BindParameter

from order_graph.domain.model import (
    Channel,
    DiscountRecord,
    ItemRecord,
    OrderRecord,
    StatusChangeRecord,
)
from order_graph.domain.status import MainStatus
from order_graph.storage import codes, deadlines, driver
from order_graph.storage.tables import order_discounts, order_items, orders, status_changes


@dataclass(frozen=True, slots=True)
class OrderQuery:
    """Filters for listing orders; every field narrows the result."""

    store_ids: Sequence[str] | None = None
    main_statuses: Sequence[MainStatus] | None = None
    sub_statuses: Sequence[str] | None = None
    channels: Sequence[Channel] | None = None
    customer_id: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    due_before: datetime | None = None


def order_from_row(row: Row[Any]) -> OrderRecord:
    return order_of(row._asdict())


def order_of(values: dict[str, Any]) -> OrderRecord:
    values["channel"] = codes.CHANNEL[values["channel"]]
    values["fulfillment_type"] = codes.FULFILLMENT_TYPE[values["fulfillment_type"]]
    values["main_status"] = codes.MAIN_STATUS[values["main_status"]]
    return OrderRecord(**values)


_BY_ID = select(orders).where(orders.c.id == bindparam("id"))
_LOCK = _BY_ID.with_for_update()
_COLUMNS = ", ".join(column.name for column in orders.c)
_PG_BY_ID = f"SELECT {_COLUMNS} FROM orders WHERE id = $1"
_PG_LOCK = _PG_BY_ID + " FOR UPDATE"


async def get_order(
    conn: AsyncConnection, order_id: int, *, for_update: bool = False
) -> OrderRecord | None:
    pg = await driver.of(conn)
    if pg is not None:
        found = await pg.fetchrow(_PG_LOCK if for_update else _PG_BY_ID, order_id)
        return None if found is None else order_of(dict(found))
    row = (await conn.execute(_LOCK if for_update else _BY_ID, {"id": order_id})).first()
    return order_from_row(row) if row else None


# Statements built once: building and cache-keying a statement per call is measurable on the
# hottest reads. `ids` expands to the list it is given. Children are read without their
# `store_id`, which is the order's (it is there to co-locate them with it, see tables.py).
IDS: BindParameter[int] = bindparam("ids", expanding=True)
_ORDERS_BY_ID = select(orders).where(orders.c.id.in_(IDS))
_ITEMS = (
    select(*(column for column in order_items.c if column.name != "store_id"))
    .where(order_items.c.order_id.in_(IDS))
    .order_by(order_items.c.order_id, order_items.c.position)
)
_DISCOUNTS = (
    select(*(column for column in order_discounts.c if column.name != "store_id"))
    .where(order_discounts.c.order_id.in_(IDS))
    .order_by(order_discounts.c.order_id, order_discounts.c.position)
)
_HISTORY = (
    select(
        status_changes.c.order_id,
        status_changes.c.from_main_status,
        status_changes.c.to_main_status,
        status_changes.c.from_sub_status,
        status_changes.c.to_sub_status,
        status_changes.c.reason,
        status_changes.c.actor,
        status_changes.c.occurred_at,
        status_changes.c.version,
    )
    .where(status_changes.c.order_id.in_(IDS))
    .order_by(status_changes.c.order_id, status_changes.c.id)
)


async def get_orders(conn: AsyncConnection, order_ids: Iterable[int]) -> dict[int, OrderRecord]:
    rows = await conn.execute(_ORDERS_BY_ID, {"ids": list(order_ids)})
    return {row.id: order_from_row(row) for row in rows}


async def find_by_external_ref(
    conn: AsyncConnection, platform: str, external_order_id: str
) -> OrderRecord | None:
    statement = select(orders).where(
        orders.c.external_platform == platform, orders.c.external_order_id == external_order_id
    )
    row = (await conn.execute(statement)).first()
    return order_from_row(row) if row else None


def list_statement(query: OrderQuery, first: int, before_id: int | None) -> Select[Any]:
    """Newest first by id, which only grows: a page boundary never moves as orders arrive."""
    conditions = []
    if before_id is not None:
        conditions.append(orders.c.id < before_id)
    if query.store_ids is not None:
        conditions.append(orders.c.store_id.in_(list(query.store_ids)))
    if query.main_statuses is not None:
        conditions.append(orders.c.main_status.in_(list(query.main_statuses)))
    if query.sub_statuses is not None:
        conditions.append(orders.c.sub_status.in_(list(query.sub_statuses)))
    if query.channels is not None:
        conditions.append(orders.c.channel.in_(list(query.channels)))
    if query.customer_id is not None:
        conditions.append(orders.c.customer_id == query.customer_id)
    if query.created_after is not None:
        conditions.append(orders.c.created_at >= query.created_after)
    if query.created_before is not None:
        conditions.append(orders.c.created_at < query.created_before)
    if query.due_before is not None:
        conditions.append(orders.c.id.in_(deadlines.due_before(query.due_before, query.store_ids)))
    return select(orders).where(and_(True, *conditions)).order_by(orders.c.id.desc()).limit(first)


async def list_orders(
    conn: AsyncConnection, query: OrderQuery, first: int, before_id: int | None
) -> list[OrderRecord]:
    rows = await conn.execute(list_statement(query, first, before_id))
    return [order_from_row(row) for row in rows]


async def items_by_order(
    conn: AsyncConnection, order_ids: Sequence[int]
) -> dict[int, list[ItemRecord]]:
    grouped: dict[int, list[ItemRecord]] = defaultdict(list)
    for row in await conn.execute(_ITEMS, {"ids": list(order_ids)}):
        grouped[row.order_id].append(ItemRecord(*row))
    return grouped


async def discounts_by_order(
    conn: AsyncConnection, order_ids: Sequence[int]
) -> dict[int, list[DiscountRecord]]:
    grouped: dict[int, list[DiscountRecord]] = defaultdict(list)
    rows = await conn.execute(_DISCOUNTS, {"ids": list(order_ids)})
    for id_, order_id, position, kind, code, description, amount, item_id, funded_by in rows:
        discount = DiscountRecord(
            id_,
            order_id,
            position,
            codes.DISCOUNT_KIND[kind],
            code,
            description,
            amount,
            item_id,
            funded_by,
        )
        grouped[order_id].append(discount)
    return grouped


async def history_by_order(
    conn: AsyncConnection, order_ids: Sequence[int]
) -> dict[int, list[StatusChangeRecord]]:
    grouped: dict[int, list[StatusChangeRecord]] = defaultdict(list)
    rows = await conn.execute(_HISTORY, {"ids": list(order_ids)})
    for order_id, source, target, from_sub, to_sub, reason, actor, occurred_at, version in rows:
        from_main, to_main = codes.MAIN_STATUS_OR_NONE[source], codes.MAIN_STATUS[target]
        change = StatusChangeRecord(
            order_id, from_main, to_main, from_sub, to_sub, reason, actor, occurred_at, version
        )
        grouped[order_id].append(change)
    return grouped
