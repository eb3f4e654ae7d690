"""The order reads behind the query resolvers, shared with the compiled fast path.

Each asks the access gate (scope first, then each order's store) and checks the arguments,
raising the GraphQL error a caller should see; another store's order reads as missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from graphql import GraphQLError

from order_graph.api import ids
from order_graph.api.context import Context
from order_graph.api.errors import bad_input
from order_graph.api.gate import require_scope, shown
from order_graph.api.inputs import OrderFilter
from order_graph.domain.access import Principal, Scope, visible_stores
from order_graph.domain.deadlines import MAX_DUE_WITHIN_MINUTES
from order_graph.domain.model import OrderRecord
from order_graph.storage import orders as store

MAX_PAGE = 100
MAX_IDS = 100
DEFAULT_PAGE = 20


def order_number(value: str) -> int:
    try:
        return ids.decode_as("Order", value)
    except ids.BadId:
        raise bad_input(f"Not an order id: {value!r}.") from None


def _due_before(minutes: int | None, now: datetime) -> datetime | None:
    if minutes is None:
        return None
    if not 0 <= minutes <= MAX_DUE_WITHIN_MINUTES:
        raise bad_input(f"dueWithinMinutes must be from 0 to {MAX_DUE_WITHIN_MINUTES}.")
    return now + timedelta(minutes=minutes)


def order_query(
    filter: OrderFilter | None, principal: Principal, now: datetime
) -> store.OrderQuery:
    if filter is None:
        return store.OrderQuery(store_ids=visible_stores(principal, None))
    wanted = None if filter.store_ids is None else [str(s) for s in filter.store_ids]
    return store.OrderQuery(
        store_ids=visible_stores(principal, wanted),
        main_statuses=filter.main_statuses,
        sub_statuses=filter.sub_statuses,
        channels=filter.channels,
        customer_id=None if filter.customer_id is None else str(filter.customer_id),
        created_after=filter.created_after,
        created_before=filter.created_before,
        due_before=_due_before(filter.due_within_minutes, now),
    )


async def order_by_number(ctx: Context, number: int) -> OrderRecord | None:
    require_scope(ctx.principal, Scope.ORDERS_READ)
    return shown(ctx.principal, await ctx.loaders.orders.load(number))


async def order_by_external_ref(
    ctx: Context, platform: str, external_order_id: str
) -> OrderRecord | None:
    require_scope(ctx.principal, Scope.ORDERS_READ)
    async with ctx.db.read() as conn:
        record = await store.find_by_external_ref(conn, platform, external_order_id)
    return shown(ctx.principal, record)


async def orders_by_ids(
    ctx: Context, values: Sequence[str]
) -> list[OrderRecord | GraphQLError | None]:
    """One entry per id, in order: the order, None where none is visible, or the error of a
    malformed id, which the executor reports at that position (the others still answer)."""
    require_scope(ctx.principal, Scope.ORDERS_READ)
    if len(values) > MAX_IDS:
        raise bad_input(f"At most {MAX_IDS} ids.")
    numbers: list[int | GraphQLError] = []
    for value in values:
        try:
            numbers.append(order_number(value))
        except GraphQLError as error:
            numbers.append(error)
    found = iter(await ctx.loaders.orders.load_many([n for n in numbers if isinstance(n, int)]))
    return [
        n if isinstance(n, GraphQLError) else shown(ctx.principal, next(found)) for n in numbers
    ]


def page_bounds(first: int | None, after: str | None) -> tuple[int, int | None]:
    """The page's size, and the id its orders come before (None: from the newest)."""
    first = DEFAULT_PAGE if first is None else first
    if not 1 <= first <= MAX_PAGE:
        raise bad_input(f"first must be from 1 to {MAX_PAGE}.")
    if after is None:
        return first, None
    try:
        return first, ids.decode_as("OrderCursor", after)
    except ids.BadId:
        raise bad_input("Not a cursor from this list.") from None


def page_cursor(record: OrderRecord) -> str:
    return ids.encode("OrderCursor", record.id)


async def order_page(
    ctx: Context, filter: OrderFilter | None, first: int | None, after: str | None
) -> tuple[list[OrderRecord], bool]:
    """Newest first: the page, and whether there is another after it."""
    require_scope(ctx.principal, Scope.ORDERS_READ)
    first, before_id = page_bounds(first, after)
    async with ctx.db.read() as conn:
        query = order_query(filter, ctx.principal, ctx.service.clock())
        records = await store.list_orders(conn, query, first + 1, before_id)
    ctx.loaders.prime(records[:first])
    return records[:first], len(records) > first
