"""Query resolvers: thin wrappers around the reads in `reads.py`."""

from __future__ import annotations

from typing import cast

import strawberry
from graphql import GraphQLError

from order_graph.api import ids, reads
from order_graph.api.context import Context, Info
from order_graph.api.enums import MainStatus
from order_graph.api.errors import bad_input
from order_graph.api.events import OrderEventConnection, read_events
from order_graph.api.gate import require_scope
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
from order_graph.domain.access import Scope
from order_graph.domain.model import OrderRecord
from order_graph.domain.status import TRANSITIONS
from order_graph.storage import sub_statuses


def _order(record: OrderRecord | None) -> Order | None:
    return None if record is None else Order.of(record)


async def order_connection(
    ctx: Context, filter: OrderFilter | None, first: int | None, after: str | None
) -> OrderConnection:
    """`Query.orders`; also the `orders` of a federated store or customer, by a narrowed filter."""
    page, more = await reads.order_page(ctx, filter, first, after)
    edges = [OrderEdge(cursor=reads.page_cursor(r), node=Order.of(r)) for r in page]
    end = edges[-1].cursor if edges else None
    return OrderConnection(edges=edges, page_info=PageInfo(has_next_page=more, end_cursor=end))


@strawberry.type
class Query:
    @strawberry.field
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        try:
            kind, number = ids.decode(id)
        except ids.BadId:
            raise bad_input(f"Not an id: {id!r}.") from None
        if kind != "Order":
            return None
        return _order(await reads.order_by_number(info.context, number))

    @strawberry.field
    async def order(self, info: Info, id: strawberry.ID) -> Order | None:
        return _order(await reads.order_by_number(info.context, reads.order_number(id)))

    @strawberry.field
    async def order_by_external_ref(self, info: Info, platform: str, order_id: str) -> Order | None:
        return _order(await reads.order_by_external_ref(info.context, platform, order_id))

    @strawberry.field(
        description="Up to 100 ids; the result has one entry per id, in order, null where none "
        "is visible."
    )
    async def orders_by_ids(self, info: Info, ids: list[strawberry.ID]) -> list[Order | None]:
        found = await reads.orders_by_ids(info.context, ids)
        # graphql-core reports an error in a list at its position, as null with its path.
        return cast(
            list[Order | None],
            [entry if isinstance(entry, GraphQLError) else _order(entry) for entry in found],
        )

    @strawberry.field(description="Newest first. first: 1 to 100.")
    async def orders(
        self,
        info: Info,
        filter: OrderFilter | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> OrderConnection:
        return await order_connection(info.context, filter, first, after)

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
        require_scope(info.context.principal, Scope.ORDERS_READ)
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
