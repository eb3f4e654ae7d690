"""The compiled queries' reads: orders as plain rows, each with the lists under it, in a fixed
column layout that the generated builders (api/codegen.py) index directly.

On PostgreSQL one statement answers a root field, its lists included (correlated `ARRAY(SELECT
ROW(...))` subqueries, which asyncpg decodes into tuples, JSONB through orjson): one round trip
and one snapshot, so an order's totals and its discounts always agree. Several roots in one
request share a REPEATABLE READ READ ONLY transaction. The statements are written here as text
and prepared once per connection by asyncpg; nothing is compiled per request. SQLite reads the
same layout through SQLAlchemy (fast_reads_sqlite.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from order_graph.storage.orders import OrderQuery

ORDER_COLUMNS = (
    "id", "version", "store_id", "channel", "fulfillment_type", "currency", "main_status",
    "sub_status", "items_total", "discount_total", "delivery_fee", "packaging_fee",
    "payable_total", "external_platform", "external_order_id", "customer_id", "remark",
    "attributes", "created_by", "created_at", "updated_at", "refunded_total",
)  # fmt: skip
ITEM_COLUMNS = (
    "id", "sku_id", "name", "quantity", "unit_price", "line_total", "attributes",
    "cancelled_quantity",
)  # fmt: skip
DISCOUNT_COLUMNS = ("id", "kind", "code", "description", "amount", "item_id", "funded_by")
HISTORY_COLUMNS = (
    "from_main_status", "to_main_status", "from_sub_status", "to_sub_status", "reason", "actor",
    "occurred_at", "version",
)  # fmt: skip
CHANGE_COLUMNS = (
    "kind", "version", "lines", "discounts", "refund_amount", "reason", "actor", "occurred_at",
)  # fmt: skip
# The lists follow the order's columns, in this order; a list not asked for is NULL.
LISTS = ("items", "discounts", "history", "changes")
LIST_COLUMNS = {
    "items": ITEM_COLUMNS,
    "discounts": DISCOUNT_COLUMNS,
    "history": HISTORY_COLUMNS,
    "changes": CHANGE_COLUMNS,
}
# Where each list is stored, and how it is ordered.
LIST_TABLES = {
    "items": ("order_items", "position"),
    "discounts": ("order_discounts", "position"),
    "history": ("status_changes", "id"),
    "changes": ("order_changes", "version"),
}

Row = Sequence[Any]  # an order: ORDER_COLUMNS, then LISTS (each a list of tuples, or None)


Wanted = frozenset[str]  # the names of the lists a selection needs


class Reads(Protocol):
    """One request's reads, all from one snapshot where the database allows."""

    async def by_ids(self, ids: Sequence[int], wanted: Wanted) -> dict[int, Row]: ...

    async def by_ref(self, platform: str, order_id: str, wanted: Wanted) -> Row | None: ...

    async def page(
        self, query: OrderQuery, limit: int, before_id: int | None, wanted: Wanted
    ) -> list[Row]: ...


# --- PostgreSQL --------------------------------------------------------------------------


def _list_sql(name: str) -> str:
    table, order = LIST_TABLES[name]
    columns = ", ".join(f"x.{c}" for c in LIST_COLUMNS[name])
    return f"ARRAY(SELECT ROW({columns}) FROM {table} x WHERE x.order_id = o.id ORDER BY x.{order})"


def _select(wanted: Wanted) -> str:
    lists = [_list_sql(n) if n in wanted else "NULL" for n in LISTS]
    return ", ".join([*(f"o.{c}" for c in ORDER_COLUMNS), *lists])


class _Filter:
    """A WHERE clause's conditions and their parameters ($1, $2, ...), from an OrderQuery."""

    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.values: list[Any] = []

    def param(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def _plain(values: Sequence[Any]) -> list[str]:
    return [str(v) for v in values]


def page_filter(query: OrderQuery, before_id: int | None) -> _Filter:
    """The conditions of `storage.orders.list_statement`, written for asyncpg."""
    found = _Filter()
    add, param = found.conditions.append, found.param
    if before_id is not None:
        add(f"id < {param(before_id)}")
    if query.store_ids is not None:
        add(f"store_id = ANY({param(list(query.store_ids))}::text[])")
    if query.main_statuses is not None:
        add(f"main_status = ANY({param(_plain(query.main_statuses))}::text[])")
    if query.sub_statuses is not None:
        add(f"sub_status = ANY({param(list(query.sub_statuses))}::text[])")
    if query.channels is not None:
        add(f"channel = ANY({param(_plain(query.channels))}::text[])")
    if query.customer_id is not None:
        add(f"customer_id = {param(query.customer_id)}")
    if query.created_after is not None:
        add(f"created_at >= {param(query.created_after)}")
    if query.created_before is not None:
        add(f"created_at < {param(query.created_before)}")
    if query.due_before is not None:
        due = f"d.due_at <= {param(query.due_before)}"
        if query.store_ids is not None:
            due += f" AND d.store_id = ANY({param(list(query.store_ids))}::text[])"
        add(f"id IN (SELECT d.order_id FROM order_deadlines d WHERE {due})")
    return found


class Connection(Protocol):
    """What is used of asyncpg's connection."""

    async def fetch(self, query: str, *args: Any) -> list[Any]: ...


class PostgresReads:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def by_ids(self, ids: Sequence[int], wanted: Wanted) -> dict[int, Row]:
        statement = _BY_IDS.get(wanted) or _remember(
            _BY_IDS,
            wanted,
            f"SELECT {_select(wanted)} FROM orders o WHERE o.id = ANY($1::bigint[])",
        )
        rows = await self._conn.fetch(statement, list(ids))
        return {row[0]: row for row in rows}

    async def by_ref(self, platform: str, order_id: str, wanted: Wanted) -> Row | None:
        statement = _BY_REF.get(wanted) or _remember(
            _BY_REF,
            wanted,
            f"SELECT {_select(wanted)} FROM orders o "
            "WHERE o.external_platform = $1 AND o.external_order_id = $2",
        )
        rows = await self._conn.fetch(statement, platform, order_id)
        return rows[0] if rows else None

    async def page(
        self, query: OrderQuery, limit: int, before_id: int | None, wanted: Wanted
    ) -> list[Row]:
        found = page_filter(query, before_id)
        clause = " AND ".join(found.conditions) or "TRUE"
        # The page is chosen first, and its lists loaded for its rows only.
        statement = (
            f"SELECT {_select(wanted)} FROM (SELECT * FROM orders WHERE {clause} "
            f"ORDER BY id DESC LIMIT {found.param(limit)}) o ORDER BY o.id DESC"
        )
        return list(await self._conn.fetch(statement, *found.values))


_BY_IDS: dict[Wanted, str] = {}
_BY_REF: dict[Wanted, str] = {}


def _remember(cache: dict[Wanted, str], wanted: Wanted, statement: str) -> str:
    cache[wanted] = statement
    return statement
