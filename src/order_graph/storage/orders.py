"""Reading and writing orders with their items, discounts and status history."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
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
from order_graph.storage import codes, deadlines, driver
from order_graph.storage.json import dumps
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
# hottest reads. `ids` expands to the list it is given.
IDS: BindParameter[int] = bindparam("ids", expanding=True)
_ORDERS_BY_ID = select(orders).where(orders.c.id.in_(IDS))
_ITEMS = (
    select(order_items)
    .where(order_items.c.order_id.in_(IDS))
    .order_by(order_items.c.order_id, order_items.c.position)
)
_DISCOUNTS = (
    select(order_discounts)
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


_ORDER_INSERTED = [c.name for c in orders.c if c.name not in {"id", "refunded_total"}]
_PG_INSERT_ORDER = (
    f"INSERT INTO orders ({', '.join(_ORDER_INSERTED)}) VALUES "
    f"({', '.join(f'${n}' for n in range(1, len(_ORDER_INSERTED) + 1))}) RETURNING id"
)
_PG_INSERT_ITEMS = (
    "INSERT INTO order_items (order_id, position, sku_id, name, quantity, unit_price, "
    "line_total, attributes) SELECT $1, * FROM unnest($2::int[], $3::text[], $4::text[], "
    "$5::int[], $6::bigint[], $7::bigint[], $8::jsonb[]) RETURNING id, position"
)
_PG_INSERT_DISCOUNTS = (
    "INSERT INTO order_discounts (order_id, position, kind, code, description, amount, item_id, "
    "funded_by) SELECT $1, * FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], "
    "$6::bigint[], $7::bigint[], $8::text[])"
)
_INSERT_ITEMS = insert(order_items).returning(order_items.c.id, sort_by_parameter_order=True)


async def insert_order(
    conn: AsyncConnection, draft: OrderDraft, actor: str, now: datetime
) -> tuple[OrderRecord, list[ItemRecord]]:
    """The order and its lines as stored: one statement each (and one for its discounts)."""
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
    pg = await driver.of(conn)
    if pg is not None:
        row = [dumps(v) if k == "attributes" else v for k, v in values.items()]
        order_id = (await pg.fetch(_PG_INSERT_ORDER, *row))[0][0]
        lines = draft.items
        returned = await pg.fetch(
            _PG_INSERT_ITEMS,
            order_id,
            list(range(len(lines))),
            [item.sku_id for item in lines],
            [item.name for item in lines],
            [item.quantity for item in lines],
            [item.unit_price for item in lines],
            [item.line_total for item in lines],
            [dumps(item.attributes) for item in lines],
        )
        item_ids = [r[0] for r in sorted(returned, key=lambda r: int(r[1]))]
    else:
        order_id = (await conn.execute(insert(orders).returning(orders.c.id), values)).scalar_one()
        item_rows = [
            {
                "order_id": order_id,
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
        item_ids = list((await conn.execute(_INSERT_ITEMS, item_rows)).scalars())
    await insert_discounts(conn, order_id, draft.discounts, item_ids)
    items = [
        ItemRecord(
            item_id,
            order_id,
            position,
            item.sku_id,
            item.name,
            item.quantity,
            item.unit_price,
            item.line_total,
            item.attributes,
        )
        for position, (item_id, item) in enumerate(zip(item_ids, draft.items, strict=True))
    ]
    return OrderRecord(id=order_id, **values), items


async def insert_discounts(
    conn: AsyncConnection, order_id: int, discounts: Sequence[DiscountDraft], item_ids: list[int]
) -> None:
    if not discounts:
        return
    targets = [None if d.item_index is None else item_ids[d.item_index] for d in discounts]
    pg = await driver.of(conn)
    if pg is not None:
        await pg.execute(
            _PG_INSERT_DISCOUNTS,
            order_id,
            list(range(len(discounts))),
            [d.kind for d in discounts],
            [d.code for d in discounts],
            [d.description for d in discounts],
            [d.amount for d in discounts],
            targets,
            [d.funded_by for d in discounts],
        )
        return
    rows = [
        {
            "order_id": order_id,
            "position": position,
            "kind": d.kind,
            "code": d.code,
            "description": d.description,
            "amount": d.amount,
            "item_id": target,
            "funded_by": d.funded_by,
        }
        for position, (d, target) in enumerate(zip(discounts, targets, strict=True))
    ]
    await conn.execute(insert(order_discounts), rows)


async def replace_discounts(
    conn: AsyncConnection, order_id: int, discounts: Sequence[DiscountDraft], item_ids: list[int]
) -> None:
    await conn.execute(order_discounts.delete().where(order_discounts.c.order_id == order_id))
    await insert_discounts(conn, order_id, discounts, item_ids)


async def update_order(
    conn: AsyncConnection, order: OrderRecord, values: dict[str, Any], now: datetime
) -> OrderRecord:
    """Writes `values` and bumps the version; the WHERE on version guards any unlocked race."""
    version = order.version + 1
    pg = await driver.of(conn)
    if pg is not None:
        names = tuple(values)
        args = [dumps(v) if k == "attributes" else v for k, v in values.items()]
        status = await pg.execute(_pg_update(names), order.id, order.version, version, now, *args)
        count = int(status.rpartition(" ")[2])
    else:
        statement = (
            update(orders)
            .where(orders.c.id == order.id, orders.c.version == order.version)
            .values(**values, version=version, updated_at=now)
        )
        count = (await conn.execute(statement)).rowcount
    if count != 1:
        # Callers hold the order's row lock (or SQLite's write lock), so this cannot happen; if
        # it did, nothing may be written on top of a version the caller did not see.
        raise RuntimeError(f"order {order.id} changed under its lock")
    return replace(order, **values, version=version, updated_at=now)


@cache
def _pg_update(names: tuple[str, ...]) -> str:
    """One text per set of changed columns (a change kind changes the same ones each time)."""
    known = orders.c
    sets = "".join(f", {known[name].name} = ${n}" for n, name in enumerate(names, start=5))
    return f"UPDATE orders SET version = $3, updated_at = $4{sets} WHERE id = $1 AND version = $2"


_PG_INSERT_CHANGE = (
    "INSERT INTO status_changes (order_id, from_main_status, to_main_status, from_sub_status, "
    "to_sub_status, reason, actor, occurred_at, version) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)
_INSERT_CHANGE = insert(status_changes)
_CHANGE_COLUMNS = (
    "order_id", "from_main_status", "to_main_status", "from_sub_status", "to_sub_status",
    "reason", "actor", "occurred_at", "version",
)  # fmt: skip


async def insert_status_change(conn: AsyncConnection, change: StatusChangeRecord) -> None:
    row = (
        change.order_id, change.from_main_status, change.to_main_status, change.from_sub_status,
        change.to_sub_status, change.reason, change.actor, change.occurred_at, change.version,
    )  # fmt: skip
    pg = await driver.of(conn)
    if pg is not None:
        await pg.execute(_PG_INSERT_CHANGE, *row)
        return
    await conn.execute(_INSERT_CHANGE, dict(zip(_CHANGE_COLUMNS, row, strict=True)))


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
