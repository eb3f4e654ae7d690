"""Writing orders: a new order with its lines, discounts and first history entry, and the
version-checked update of an existing one. On PostgreSQL through the driver (`driver.py`),
each write in as few statements as its rows allow; on SQLite through SQLAlchemy Core.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from order_graph.domain.model import (
    DiscountDraft,
    DiscountRecord,
    ItemDraft,
    ItemRecord,
    OrderDraft,
    OrderRecord,
    StatusChangeRecord,
)
from order_graph.storage import driver
from order_graph.storage.json import dumps
from order_graph.storage.tables import order_discounts, order_items, orders, status_changes


@dataclass(frozen=True, slots=True)
class Stored:
    """A new order and what went in with it, as written (it has no item changes yet)."""

    order: OrderRecord
    items: list[ItemRecord]
    discounts: list[DiscountRecord]
    history: list[StatusChangeRecord]


_ORDER_INSERTED = [c.name for c in orders.c if c.name not in {"id", "refunded_total"}]


def _numbered(first: int, casts: Sequence[str]) -> str:
    return ", ".join(f"${n}{cast}" for n, cast in enumerate(casts, start=first))


_ITEM_ARRAYS = (
    "::int[]",
    "::text[]",
    "::text[]",
    "::int[]",
    "::bigint[]",
    "::bigint[]",
    "::jsonb[]",
)
_DISCOUNTS = ("::int[]", "::text[]", "::text[]", "::text[]", "::bigint[]", "::int[]", "::text[]")
_N = len(_ORDER_INSERTED)
# One statement for the whole order: the discounts find their lines' new ids by position.
_PG_CREATE = (
    f"WITH o AS (INSERT INTO orders ({', '.join(_ORDER_INSERTED)}) "
    f"VALUES ({_numbered(1, [''] * _N)}) RETURNING id, store_id), "
    "i AS (INSERT INTO order_items (order_id, store_id, position, sku_id, name, quantity, "
    f"unit_price, line_total, attributes) SELECT o.id, o.store_id, u.* FROM o, "
    f"unnest({_numbered(_N + 1, _ITEM_ARRAYS)}) AS u RETURNING id, position), "
    "d AS (INSERT INTO order_discounts (order_id, store_id, position, kind, code, description, "
    "amount, item_id, funded_by) SELECT o.id, o.store_id, u.position, u.kind, u.code, "
    "u.description, u.amount, "
    f"i.id, u.funded_by FROM o CROSS JOIN unnest({_numbered(_N + 8, _DISCOUNTS)}) "
    "AS u(position, kind, code, description, amount, item_index, funded_by) "
    "LEFT JOIN i ON i.position = u.item_index RETURNING id, position), "
    "h AS (INSERT INTO status_changes (order_id, store_id, to_main_status, to_sub_status, "
    f"actor, occurred_at, version) SELECT o.id, o.store_id, {_numbered(_N + 15, [''] * 4)}, 1 "
    "FROM o) "
    "SELECT (SELECT id FROM o), (SELECT array_agg(id ORDER BY position) FROM i), "
    "(SELECT array_agg(id ORDER BY position) FROM d)"
)
_INSERT_ITEMS = insert(order_items).returning(order_items.c.id, sort_by_parameter_order=True)


async def insert_order(
    conn: AsyncConnection, draft: OrderDraft, actor: str, now: datetime
) -> Stored:
    """The order, its lines and discounts, and its first status history entry (version 1);
    returns the new order and everything under it as stored."""
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
    lines, discounts = draft.items, draft.discounts
    pg = await driver.of(conn)
    if pg is not None:
        created = await pg.fetchrow(
            _PG_CREATE,
            *(dumps(v) if k == "attributes" else v for k, v in values.items()),
            list(range(len(lines))),
            [item.sku_id for item in lines],
            [item.name for item in lines],
            [item.quantity for item in lines],
            [item.unit_price for item in lines],
            [item.line_total for item in lines],
            [dumps(item.attributes) for item in lines],
            list(range(len(discounts))),
            [d.kind for d in discounts],
            [d.code for d in discounts],
            [d.description for d in discounts],
            [d.amount for d in discounts],
            [d.item_index for d in discounts],
            [d.funded_by for d in discounts],
            draft.main_status,
            draft.sub_status,
            actor,
            now,
        )
        assert created is not None
        order_id, item_ids, discount_ids = created[0], list(created[1]), list(created[2] or ())
    else:
        order_id = (await conn.execute(insert(orders).returning(orders.c.id), values)).scalar_one()
        item_rows = [
            item_values(order_id, draft.store_id, position, item)
            for position, item in enumerate(lines)
        ]
        item_ids = list((await conn.execute(_INSERT_ITEMS, item_rows)).scalars())
        discount_ids = await insert_discounts(
            conn, order_id, discounts, item_ids, store_id=draft.store_id
        )
    entered = StatusChangeRecord(
        order_id, None, draft.main_status, None, draft.sub_status, None, actor, now, 1
    )
    if pg is None:  # on PostgreSQL it went in with the order
        await _insert_status_change(conn, entered, draft.store_id)
    items = [
        ItemRecord(item_id, order_id, position, item.sku_id, item.name, item.quantity,
                   item.unit_price, item.line_total, item.attributes)
        for position, (item_id, item) in enumerate(zip(item_ids, lines, strict=True))
    ]  # fmt: skip
    stored = [
        DiscountRecord(discount_id, order_id, position, d.kind, d.code, d.description, d.amount,
                       None if d.item_index is None else item_ids[d.item_index], d.funded_by)
        for position, (discount_id, d) in enumerate(zip(discount_ids, discounts, strict=True))
    ]  # fmt: skip
    return Stored(OrderRecord(id=order_id, **values), items, stored, [entered])


def item_values(order_id: int, store_id: str, position: int, item: ItemDraft) -> dict[str, Any]:
    """One new line's row, for SQLAlchemy Core (a new order's, or one an item change adds)."""
    return {
        "order_id": order_id,
        "store_id": store_id,
        "position": position,
        "sku_id": item.sku_id,
        "name": item.name,
        "quantity": item.quantity,
        "unit_price": item.unit_price,
        "line_total": item.line_total,
        "attributes": item.attributes,
    }


_PG_INSERT_DISCOUNTS = (
    "INSERT INTO order_discounts (order_id, store_id, position, kind, code, description, amount, "
    "item_id, funded_by) SELECT $1, $9, * FROM unnest($2::int[], $3::text[], $4::text[], "
    "$5::text[], $6::bigint[], $7::bigint[], $8::text[]) RETURNING id, position"
)
_INSERT_DISCOUNTS = insert(order_discounts).returning(
    order_discounts.c.id, sort_by_parameter_order=True
)


async def insert_discounts(
    conn: AsyncConnection,
    order_id: int,
    discounts: Sequence[DiscountDraft],
    item_ids: list[int],
    *,
    store_id: str,
) -> list[int]:
    """Stores the results in their order; returns their ids in that order."""
    if not discounts:
        return []
    targets = [None if d.item_index is None else item_ids[d.item_index] for d in discounts]
    pg = await driver.of(conn)
    if pg is not None:
        returned = await pg.fetch(
            _PG_INSERT_DISCOUNTS,
            order_id,
            list(range(len(discounts))),
            [d.kind for d in discounts],
            [d.code for d in discounts],
            [d.description for d in discounts],
            [d.amount for d in discounts],
            targets,
            [d.funded_by for d in discounts],
            store_id,
        )
        return [r[0] for r in sorted(returned, key=lambda r: int(r[1]))]
    rows = [
        {
            "order_id": order_id,
            "store_id": store_id,
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
    return list((await conn.execute(_INSERT_DISCOUNTS, rows)).scalars())


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
    conn: AsyncConnection,
    order: OrderRecord,
    values: dict[str, Any],
    now: datetime,
    history: StatusChangeRecord | None = None,
) -> OrderRecord:
    """Writes `values` and bumps the version, with the status history entry of the change if
    it has one (on PostgreSQL in the same statement). The WHERE on version guards any unlocked
    race."""
    version = order.version + 1
    pg = await driver.of(conn)
    if pg is not None:
        names = tuple(values)
        args = [dumps(v) if k == "attributes" else v for k, v in values.items()]
        sql = _pg_update(names, history is not None)
        moved = () if history is None else _change_row(history)[1:]
        count = await pg.fetchval(sql, order.id, order.version, version, now, *args, *moved)
    else:
        statement = (
            update(orders)
            .where(orders.c.id == order.id, orders.c.version == order.version)
            .values(**values, version=version, updated_at=now)
        )
        count = (await conn.execute(statement)).rowcount
        if history is not None and count == 1:
            await _insert_status_change(conn, history, order.store_id)
    if count != 1:
        # Callers hold the order's row lock (or SQLite's write lock), so this cannot happen; if
        # it did, nothing may be written on top of a version the caller did not see.
        raise RuntimeError(f"order {order.id} changed under its lock")
    return replace(order, **values, version=version, updated_at=now)


@cache
def _pg_update(names: tuple[str, ...], with_history: bool) -> str:
    """One text per set of changed columns (a change kind changes the same ones each time).
    Answers how many rows it updated; the history entry goes in only with the update."""
    known = orders.c
    sets = "".join(f", {known[name].name} = ${n}" for n, name in enumerate(names, start=5))
    update = f"UPDATE orders SET version = $3, updated_at = $4{sets} WHERE id = $1 AND version = $2"
    if not with_history:
        return f"WITH updated AS ({update} RETURNING 1) SELECT count(*) FROM updated"
    first = 5 + len(names)
    moved = ", ".join(f"${n}" for n in range(first, first + 8))
    return (
        f"WITH updated AS ({update} RETURNING id, store_id), history AS ("
        "INSERT INTO status_changes (order_id, store_id, from_main_status, to_main_status, "
        "from_sub_status, to_sub_status, reason, actor, occurred_at, version) "
        f"SELECT id, store_id, {moved} FROM updated) SELECT count(*) FROM updated"
    )


def _change_row(change: StatusChangeRecord) -> tuple[Any, ...]:
    return (
        change.order_id, change.from_main_status, change.to_main_status, change.from_sub_status,
        change.to_sub_status, change.reason, change.actor, change.occurred_at, change.version,
    )  # fmt: skip


_INSERT_CHANGE = insert(status_changes)
_CHANGE_COLUMNS = (
    "order_id", "from_main_status", "to_main_status", "from_sub_status", "to_sub_status",
    "reason", "actor", "occurred_at", "version",
)  # fmt: skip


async def _insert_status_change(
    conn: AsyncConnection, change: StatusChangeRecord, store_id: str
) -> None:
    """Through SQLAlchemy: on PostgreSQL's driver path the entry rides along with its write."""
    values = dict(zip(_CHANGE_COLUMNS, _change_row(change), strict=True))
    await conn.execute(_INSERT_CHANGE, {**values, "store_id": store_id})
