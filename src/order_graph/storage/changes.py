"""Writing an item change to the order's rows, and its immutable record."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from order_graph.domain.changes import ChangeDiscount, ChangeLine, ItemsPlan, OrderChangeRecord
from order_graph.storage import codes
from order_graph.storage.orders import IDS
from order_graph.storage.tables import order_changes, order_discounts, order_items
from order_graph.storage.writes import insert_discounts, item_values

_UPDATE_LINE = (
    update(order_items)
    .where(order_items.c.id == bindparam("item_id"))
    .values(
        quantity=bindparam("new_quantity"),
        line_total=bindparam("new_line_total"),
        cancelled_quantity=bindparam("new_cancelled"),
    )
)
_CHANGES = (
    select(order_changes)
    .where(order_changes.c.order_id.in_(IDS))
    .order_by(order_changes.c.order_id, order_changes.c.version)
)


async def apply_items(
    conn: AsyncConnection, order_id: int, plan: ItemsPlan, *, store_id: str
) -> list[int]:
    """Writes the plan's lines and discount results; returns the ids of the added lines."""
    if plan.discounts is not None:
        # Results may point at a removed line: they go first, and are written again below.
        # (A plan that removes lines always brings the new results.)
        await conn.execute(order_discounts.delete().where(order_discounts.c.order_id == order_id))
    if plan.removed:
        await conn.execute(order_items.delete().where(order_items.c.id.in_(plan.removed)))
    if plan.updates:
        updates = [
            {
                "item_id": u.item_id,
                "new_quantity": u.quantity,
                "new_line_total": u.line_total,
                "new_cancelled": u.cancelled_quantity,
            }
            for u in plan.updates
        ]
        await conn.execute(_UPDATE_LINE, updates)
    added: list[int] = []
    if plan.added:
        rows: list[dict[str, Any]] = [
            {
                **item_values(order_id, store_id, plan.first_position + offset, item),
                "cancelled_quantity": 0,
            }
            for offset, item in enumerate(plan.added)
        ]
        returning = insert(order_items).returning(order_items.c.id, sort_by_parameter_order=True)
        added = list((await conn.execute(returning, rows)).scalars())
    if plan.discounts is not None:
        kept = [*plan.kept, *added]
        await insert_discounts(conn, order_id, plan.discounts, kept, store_id=store_id)
    return added


async def count(conn: AsyncConnection, order_id: int) -> int:
    statement = select(func.count()).where(order_changes.c.order_id == order_id)
    return int((await conn.execute(statement)).scalar_one())


async def insert_change(conn: AsyncConnection, record: OrderChangeRecord, *, store_id: str) -> None:
    values = {
        "order_id": record.order_id,
        "store_id": store_id,
        "version": record.version,
        "kind": record.kind.value,
        "lines": [_line_json(line) for line in record.lines],
        "discounts": None
        if record.discounts is None
        else [_discount_json(d) for d in record.discounts],
        "refund_amount": record.refund_amount,
        "reason": record.reason,
        "actor": record.actor,
        "occurred_at": record.occurred_at,
    }
    await conn.execute(insert(order_changes), values)


async def changes_by_order(
    conn: AsyncConnection, order_ids: Sequence[int]
) -> dict[int, list[OrderChangeRecord]]:
    grouped: dict[int, list[OrderChangeRecord]] = defaultdict(list)
    for row in await conn.execute(_CHANGES, {"ids": list(order_ids)}):
        discounts = row.discounts
        record = OrderChangeRecord(
            order_id=row.order_id,
            version=row.version,
            kind=codes.CHANGE_KIND[row.kind],
            lines=tuple(ChangeLine(**line) for line in row.lines),
            discounts=None if discounts is None else tuple(_discount(d) for d in discounts),
            refund_amount=row.refund_amount,
            reason=row.reason,
            actor=row.actor,
            occurred_at=row.occurred_at,
        )
        grouped[row.order_id].append(record)
    return grouped


def _line_json(line: ChangeLine) -> dict[str, Any]:
    return {name: getattr(line, name) for name in ChangeLine.__dataclass_fields__}


def _discount_json(discount: ChangeDiscount) -> dict[str, Any]:
    values = {name: getattr(discount, name) for name in ChangeDiscount.__dataclass_fields__}
    values["kind"] = discount.kind.value
    return values


def _discount(values: dict[str, Any]) -> ChangeDiscount:
    return ChangeDiscount(**{**values, "kind": codes.DISCOUNT_KIND[values["kind"]]})
