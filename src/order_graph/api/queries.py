"""Query resolvers: thin, each one a lookup through the loaders or a storage query."""

from __future__ import annotations

import strawberry

from order_graph.api import ids
from order_graph.api.auth import require
from order_graph.api.context import Info
from order_graph.api.enums import MainStatus
from order_graph.api.errors import bad_input
from order_graph.api.events import OrderEventConnection, read_events
from order_graph.api.inputs import OrderEventFilter, OrderFilter
from order_graph.api.types import (
    MainStatusTransition,
    Node,
    Order,
    OrderConnection,
    OrderEdge,
    PageInfo,
    SubStatusDefinition,
)
from order_graph.domain.access import Principal, Scope
from order_graph.domain.model import OrderRecord
from order_graph.domain.status import TRANSITIONS
from order_graph.storage import orders as store
from order_graph.storage import sub_statuses

MAX_PAGE = 100
MAX_IDS = 100


def order_id(value: str) -> int:
    try:
        return ids.decode_as("Order", value)
    except ids.BadId:
        raise bad_input(f"Not an order id: {value!r}.") from None


def _order_query(filter: OrderFilter | None, principal: Principal) -> store.OrderQuery:
    if filter is None:
        return store.OrderQuery(store_ids=principal.visible_stores(None))
    wanted = None if filter.store_ids is None else [str(s) for s in filter.store_ids]
    return store.OrderQuery(
        store_ids=principal.visible_stores(wanted),
        main_statuses=filter.main_statuses,
        sub_statuses=filter.sub_statuses,
        channels=filter.channels,
        customer_id=None if filter.customer_id is None else str(filter.customer_id),
        created_after=filter.created_after,
        created_before=filter.created_before,
    )


def visible(info: Info, record: OrderRecord | None) -> Order | None:
    """The order, if the caller may see its store; another store's order reads as missing."""
    if record is None or not info.context.principal.sees_store(record.store_id):
        return None
    return Order.of(record)


async def load_order(info: Info, number: int) -> Order | None:
    require(info.context.principal, Scope.ORDERS_READ)
    return visible(info, await info.context.loaders.orders.load(number))


@strawberry.type
class Query:
    @strawberry.field
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        try:
            kind, number = ids.decode(id)
        except ids.BadId:
            raise bad_input(f"Not an id: {id!r}.") from None
        return await load_order(info, number) if kind == "Order" else None

    @strawberry.field
    async def order(self, info: Info, id: strawberry.ID) -> Order | None:
        return await load_order(info, order_id(id))

    @strawberry.field
    async def order_by_external_ref(self, info: Info, platform: str, order_id: str) -> Order | None:
        require(info.context.principal, Scope.ORDERS_READ)
        async with info.context.db.read() as conn:
            record = await store.find_by_external_ref(conn, platform, order_id)
        return visible(info, record)

    @strawberry.field(
        description="Up to 100 ids; the result has one entry per id, in order, null where none "
        "is visible."
    )
    async def orders_by_ids(self, info: Info, ids: list[strawberry.ID]) -> list[Order | None]:
        require(info.context.principal, Scope.ORDERS_READ)
        if len(ids) > MAX_IDS:
            raise bad_input(f"At most {MAX_IDS} ids.")
        numbers = [order_id(value) for value in ids]
        records = await info.context.loaders.orders.load_many(numbers)
        return [visible(info, record) for record in records]

    @strawberry.field(description="Newest first. first: 1 to 100.")
    async def orders(
        self,
        info: Info,
        filter: OrderFilter | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> OrderConnection:
        require(info.context.principal, Scope.ORDERS_READ)
        first = 20 if first is None else first
        if not 1 <= first <= MAX_PAGE:
            raise bad_input(f"first must be from 1 to {MAX_PAGE}.")
        before_id = None
        if after is not None:
            try:
                before_id = ids.decode_as("OrderCursor", after)
            except ids.BadId:
                raise bad_input("Not a cursor from this list.") from None
        async with info.context.db.read() as conn:
            query = _order_query(filter, info.context.principal)
            records = await store.list_orders(conn, query, first + 1, before_id)
        page = records[:first]
        info.context.loaders.prime(page)
        edges = [OrderEdge(cursor=ids.encode("OrderCursor", r.id), node=Order.of(r)) for r in page]
        return OrderConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(records) > first,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )

    @strawberry.field(
        description="The event log, oldest first, for consumers that poll or catch up."
    )
    async def order_events(
        self,
        info: Info,
        filter: OrderEventFilter | None = None,
        after: str | None = None,
        first: int | None = 100,
    ) -> OrderEventConnection:
        return await read_events(info, filter, after, 100 if first is None else first)

    @strawberry.field
    def main_status_transitions(self) -> list[MainStatusTransition]:
        return [
            MainStatusTransition(from_=source, to=list(targets))
            for source, targets in TRANSITIONS.items()
        ]

    @strawberry.field
    async def sub_status_definitions(
        self, info: Info, main_status: MainStatus | None = None
    ) -> list[SubStatusDefinition]:
        async with info.context.db.read() as conn:
            found = await sub_statuses.list_definitions(conn, main_status)
        return [
            SubStatusDefinition(
                code=d.code,
                main_status=d.main_status,
                description=d.description,
                defined_by=d.defined_by,
            )
            for d in found
        ]
