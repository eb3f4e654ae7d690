"""Reading and writing orders with their items, discounts and status history."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import BindParameter

from order_graph.domain.model import (
    Channel,
    DiscountDraft,
    DiscountRecord,
    ItemRecord,
    OrderDraft,
    OrderRecord,
    StatusChangeRecord,
)
from order_graph.domain.status import MainStatus
from order_graph.storage import codes, deadlines
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
    values = row._asdict()
    values["channel"] = codes.CHANNEL[values["channel"]]
    values["fulfillment_type"] = codes.FULFILLMENT_TYPE[values["fulfillment_type"]]
    values["main_status"] = codes.MAIN_STATUS[values["main_status"]]
    return OrderRecord(**values)


async def get_order(
    conn: AsyncConnection, order_id: int, *, for_update: bool = False
) -> OrderRecord | None:
    statement = select(orders).where(orders.c.id == order_id)
    if for_update:
        statement = statement.with_for_update()
    row = (await conn.execute(statement)).first()
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


async def insert_order(
    conn: AsyncConnection, draft: OrderDraft, actor: str, now: datetime
) -> OrderRecord:
    totals = draft.totals
    values: dict[str, Any] = {
        "version": 1,
        "store_id": draft.store_id,
        "channel": draft.channel,
        "fulfillment_type": draft.fulfillment_type,
        "currency": draft.currency,
        "main_status": draft.main_status,
        "sub_status": draft.sub_status,
        "items_total": totals.items_total,
        "discount_total": totals.discount_total,
        "delivery_fee": totals.delivery_fee,
        "packaging_fee": totals.packaging_fee,
        "payable_total": totals.payable_total,
        "external_platform": draft.external_platform,
        "external_order_id": draft.external_order_id,
        "customer_id": draft.customer_id,
        "remark": draft.remark,
        "attributes": draft.attributes,
        "created_by": actor,
        "created_at": now,
        "updated_at": now,
    }
    order_id = (await conn.execute(insert(orders).returning(orders.c.id), values)).scalar_one()
    item_rows = [
        {
            "order_id": order_id,
            "store_id": draft.store_id,
            "position": position,
            "sku_id": item.sku_id,
            "name": item.name,
            "quantity": item.quantity,
            "unit_price": item.unit_price,
            "line_total": item.line_total,
            "attributes": item.attributes,
        }
        for position, item in enumerate(draft.items)
    ]
    returning = insert(order_items).returning(order_items.c.id, sort_by_parameter_order=True)
    item_ids = list((await conn.execute(returning, item_rows)).scalars())
    await insert_discounts(conn, order_id, draft.discounts, item_ids, store_id=draft.store_id)
    return OrderRecord(id=order_id, **values)


async def insert_discounts(
    conn: AsyncConnection,
    order_id: int,
    discounts: Sequence[DiscountDraft],
    item_ids: list[int],
    *,
    store_id: str,
) -> None:
    if not discounts:
        return
    rows = [
        {
            "order_id": order_id,
            "store_id": store_id,
            "position": position,
            "kind": d.kind,
            "code": d.code,
            "description": d.description,
            "amount": d.amount,
            "item_id": None if d.item_index is None else item_ids[d.item_index],
            "funded_by": d.funded_by,
        }
        for position, d in enumerate(discounts)
    ]
    await conn.execute(insert(order_discounts), rows)


async def replace_discounts(
    conn: AsyncConnection,
    order_id: int,
    discounts: Sequence[DiscountDraft],
    item_ids: list[int],
    *,
    store_id: str,
) -> None:
    await conn.execute(order_discounts.delete().where(order_discounts.c.order_id == order_id))
    await insert_discounts(conn, order_id, discounts, item_ids, store_id=store_id)


async def update_order(
    conn: AsyncConnection, order: OrderRecord, values: dict[str, Any], now: datetime
) -> OrderRecord:
    """Writes `values` and bumps the version; the WHERE on version guards any unlocked race."""
    result = await conn.execute(
        update(orders)
        .where(orders.c.id == order.id, orders.c.version == order.version)
        .values(**values, version=order.version + 1, updated_at=now)
    )
    if result.rowcount != 1:
        # Callers hold the order's row lock (or SQLite's write lock), so this cannot happen; if
        # it did, nothing may be written on top of a version the caller did not see.
        raise RuntimeError(f"order {order.id} changed under its lock")
    return replace(order, **values, version=order.version + 1, updated_at=now)


async def insert_status_change(
    conn: AsyncConnection, change: StatusChangeRecord, *, store_id: str
) -> None:
    values = {
        "order_id": change.order_id,
        "store_id": store_id,
        "from_main_status": change.from_main_status,
        "to_main_status": change.to_main_status,
        "from_sub_status": change.from_sub_status,
        "to_sub_status": change.to_sub_status,
        "reason": change.reason,
        "actor": change.actor,
        "occurred_at": change.occurred_at,
        "version": change.version,
    }
    await conn.execute(insert(status_changes), values)


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
