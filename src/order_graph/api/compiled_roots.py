"""The root fields a compiled plan answers: each checks its arguments and the caller's rights
as the resolvers do (`reads.py`), raising the GraphQL error the executor would report (the
plan then leaves the request to it), and returns what loads its rows (storage/fast_reads.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

from order_graph.api import reads
from order_graph.api.codegen_fields import ENUMS
from order_graph.api.context import Context
from order_graph.api.errors import bad_input
from order_graph.api.gate import require_scope
from order_graph.api.inputs import OrderFilter
from order_graph.domain.access import Principal, Scope, shows_order
from order_graph.storage import fast_reads

STORE_ID = fast_reads.ORDER_COLUMNS.index("store_id")
Kind = Literal["one", "many", "page", "typename"]
Row = fast_reads.Row
# A root's reads, once its arguments and the caller's rights are checked.
Load = Callable[[fast_reads.Reads], Awaitable[Any]]
# Checks a root's arguments and rights (raising the GraphQL error the executor would report),
# and returns what loads it.
Prepare = Callable[[Context, dict[str, Any], fast_reads.Wanted], Load]


def _shown(principal: Principal, row: Row | None) -> Row | None:
    """As `gate.shown`: another store's order reads as missing."""
    if row is None or not shows_order(principal, _checked(row)[STORE_ID]):
        return None
    return row


def _checked(row: Row) -> Row:
    """The row, if its codes are known (a KeyError otherwise: the plan fails, and the
    executor answers, reporting the crash as for any read of that row), whatever is
    selected of it."""
    for column, known in _CODES:
        known[row[column]]
    return row


_CODES = [
    (fast_reads.ORDER_COLUMNS.index(column), ENUMS[name])
    for column, name in (
        ("channel", "CHANNEL"),
        ("fulfillment_type", "FULFILLMENT"),
        ("main_status", "STATUS"),
    )
]


def _one(ctx: Context, a: dict[str, Any], wanted: fast_reads.Wanted) -> Load:
    require_scope(ctx.principal, Scope.ORDERS_READ)
    number = reads.order_number(a["id"])

    async def load(found: fast_reads.Reads) -> Row | None:
        return _shown(ctx.principal, (await found.by_ids((number,), wanted)).get(number))

    return load


def _by_ref(ctx: Context, a: dict[str, Any], wanted: fast_reads.Wanted) -> Load:
    require_scope(ctx.principal, Scope.ORDERS_READ)
    platform, order_id = a["platform"], a["orderId"]

    async def load(found: fast_reads.Reads) -> Row | None:
        return _shown(ctx.principal, await found.by_ref(platform, order_id, wanted))

    return load


def _many(ctx: Context, a: dict[str, Any], wanted: fast_reads.Wanted) -> Load:
    require_scope(ctx.principal, Scope.ORDERS_READ)
    if len(a["ids"]) > reads.MAX_IDS:
        raise bad_input(f"At most {reads.MAX_IDS} ids.")
    numbers = [reads.order_number(value) for value in a["ids"]]  # a malformed one: executor

    async def load(found: fast_reads.Reads) -> list[Row | None]:
        rows = await found.by_ids(numbers, wanted) if numbers else {}
        return [_shown(ctx.principal, rows.get(number)) for number in numbers]

    return load


def _page(ctx: Context, a: dict[str, Any], wanted: fast_reads.Wanted) -> Load:
    require_scope(ctx.principal, Scope.ORDERS_READ)
    first, before_id = reads.page_bounds(a.get("first"), a.get("after"))
    query = reads.order_query(_filter(a.get("filter")), ctx.principal, ctx.service.clock())

    async def load(found: fast_reads.Reads) -> tuple[list[Row], bool]:
        rows = await found.page(query, first + 1, before_id, wanted)
        return [_checked(row) for row in rows[:first]], len(rows) > first

    return load


ROOTS: dict[str, tuple[Prepare, Kind, str]] = {
    "order": (_one, "one", "Order"),
    "orderByExternalRef": (_by_ref, "one", "Order"),
    "ordersByIds": (_many, "many", "Order"),
    "orders": (_page, "page", "OrderConnection"),
}


def _filter(value: dict[str, Any] | None) -> OrderFilter | None:
    """graphql-core coerces the input object to a dict keyed by GraphQL names."""
    if value is None:
        return None
    return OrderFilter(
        store_ids=value.get("storeIds"),
        main_statuses=value.get("mainStatuses"),
        sub_statuses=value.get("subStatuses"),
        channels=value.get("channels"),
        customer_id=value.get("customerId"),
        created_after=value.get("createdAfter"),
        created_before=value.get("createdBefore"),
        due_within_minutes=value.get("dueWithinMinutes"),
    )
