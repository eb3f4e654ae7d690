"""The compiled queries' reads on SQLite, in fast_reads' row layout, through SQLAlchemy Core:
the order's row, then each list asked for, loaded in one statement per list."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from order_graph.storage.fast_reads import LIST_COLUMNS, LISTS, ORDER_COLUMNS, Row, Wanted
from order_graph.storage.orders import IDS, OrderQuery, list_statement
from order_graph.storage.tables import (
    order_changes,
    order_discounts,
    order_items,
    orders,
    status_changes,
)

# `list_statement` selects the table's columns: they are the layout's, in its order.
assert tuple(orders.c.keys()) == ORDER_COLUMNS
_ORDERS = select(orders).where(orders.c.id.in_(IDS))


def _list(table: Any, name: str, order: Any) -> Select[Any]:
    columns = [table.c.order_id, *(table.c[c] for c in LIST_COLUMNS[name])]
    return select(*columns).where(table.c.order_id.in_(IDS)).order_by(table.c.order_id, order)


_LISTS = {
    "items": _list(order_items, "items", order_items.c.position),
    "discounts": _list(order_discounts, "discounts", order_discounts.c.position),
    "history": _list(status_changes, "history", status_changes.c.id),
    "changes": _list(order_changes, "changes", order_changes.c.version),
}


class SqliteReads:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def _with_lists(self, rows: Sequence[Any], wanted: Wanted) -> list[Row]:
        numbers = [row[0] for row in rows]
        lists: dict[str, dict[int, list[tuple[Any, ...]]]] = {}
        for name in LISTS:
            if name in wanted and numbers:
                grouped: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
                for found in await self._conn.execute(_LISTS[name], {"ids": numbers}):
                    grouped[found[0]].append(tuple(found[1:]))
                lists[name] = grouped
        return [
            (*row, *(lists[n].get(row[0], []) if n in lists else None for n in LISTS))
            for row in rows
        ]

    async def by_ids(self, ids: Sequence[int], wanted: Wanted) -> dict[int, Row]:
        rows = list(await self._conn.execute(_ORDERS, {"ids": list(ids)}))
        return {row[0]: row for row in await self._with_lists(rows, wanted)}

    async def by_ref(self, platform: str, order_id: str, wanted: Wanted) -> Row | None:
        statement = select(orders).where(
            orders.c.external_platform == platform, orders.c.external_order_id == order_id
        )
        rows = await self._with_lists(list(await self._conn.execute(statement)), wanted)
        return rows[0] if rows else None

    async def page(
        self, query: OrderQuery, limit: int, before_id: int | None, wanted: Wanted
    ) -> list[Row]:
        rows = list(await self._conn.execute(list_statement(query, limit, before_id)))
        return await self._with_lists(rows, wanted)
