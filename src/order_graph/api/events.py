"""The event log as GraphQL: `OrderEvent` (skinny scalars, fat `order`) and its pages."""

from __future__ import annotations

from datetime import datetime

import strawberry
from graphql import GraphQLError
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from order_graph.api import ids
from order_graph.api.context import Info
from order_graph.api.enums import MainStatus, OrderEventType
from order_graph.api.errors import bad_input
from order_graph.api.gate import require_scope, shown
from order_graph.api.inputs import OrderEventFilter
from order_graph.api.loaders import Loaders
from order_graph.api.types import Order, PageInfo
from order_graph.domain.access import Principal, Scope, visible_stores
from order_graph.domain.model import EventRecord
from order_graph.events import log
from order_graph.storage.database import Database

MAX_EVENT_PAGE = 500


def cursor_of(position: int) -> str:
    return ids.encode("Event", position)


def position_of(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        return ids.decode_as("Event", cursor)
    except ids.BadId:
        raise bad_input("Not an event cursor.") from None


async def resumable(db: Database, position: int) -> int:
    """`position`, once it is sure that resuming there loses nothing."""
    async with db.read() as conn:
        try:
            await log.check_resumable(conn, position)
        except log.CursorExpired:
            raise GraphQLError(
                "Events after this cursor were pruned (retention); resume from a newer cursor "
                "or re-read orders from the query API.",
                extensions={"code": "CURSOR_EXPIRED"},
            ) from None
        except log.CursorAhead:
            raise bad_input(
                "This cursor is ahead of the event log: not from this service."
            ) from None
    return position


@strawberry.type
class OrderEvent:
    cursor: str = strawberry.field(
        description="Opaque, strictly increasing position in the event log; pass it back as "
        "`after` to resume."
    )
    type: OrderEventType
    order_id: strawberry.ID
    store_id: strawberry.ID
    version: int = strawberry.field(
        description="The order version that this event produced: the order's own sequence, "
        "strictly increasing (by one per change of the order), so a consumer can order and "
        "dedupe one order's events without the global cursor (keep the highest version seen)."
    )
    main_status: MainStatus
    sub_status: str | None
    previous_main_status: MainStatus | None
    previous_sub_status: str | None
    actor: str
    occurred_at: datetime
    record: strawberry.Private[EventRecord]
    loaders: strawberry.Private[Loaders | None] = None

    @strawberry.field(
        description='The order itself (a "fat" message), as it is now: its version may be newer '
        'than the event\'s. Select only the scalars above for a "skinny" one. Needs orders:read '
        "as well as events:read."
    )
    async def order(self, info: Info) -> Order | None:
        principal = info.context.principal
        require_scope(principal, Scope.ORDERS_READ)  # fat events need orders:read too
        loaders = self.loaders or info.context.loaders
        record = shown(principal, await loaders.orders.load(self.record.order_id))
        return None if record is None else Order.of(record, loaders)

    @classmethod
    def of(cls, event: EventRecord, loaders: Loaders | None = None) -> OrderEvent:
        return cls(
            cursor=cursor_of(event.position),
            type=event.type,
            order_id=strawberry.ID(ids.encode("Order", event.order_id)),
            store_id=strawberry.ID(event.store_id),
            version=event.version,
            main_status=event.main_status,
            sub_status=event.sub_status,
            previous_main_status=event.previous_main_status,
            previous_sub_status=event.previous_sub_status,
            actor=event.actor,
            occurred_at=event.occurred_at,
            record=event,
            loaders=loaders,
        )


@strawberry.type
class OrderEventEdge:
    cursor: str
    node: OrderEvent


@strawberry.type
class OrderEventConnection:
    edges: list[OrderEventEdge]
    page_info: PageInfo


def selects_order(selections: list[Selection]) -> bool:
    """Whether a selection under `orderEvents` asks for the fat `order` (the only field of that
    name in the event types)."""
    for selection in selections:
        if isinstance(selection, SelectedField) and selection.name == "order":
            return True
        if isinstance(selection, SelectedField | FragmentSpread | InlineFragment) and selects_order(
            selection.selections
        ):
            return True
    return False


def event_query(
    filter: OrderEventFilter | None, principal: Principal, fat: bool = False
) -> log.EventQuery:
    """The caller's filter, narrowed to the stores it may see. Fat events (`order` selected)
    need orders:read as well as events:read: refused before anything is read."""
    require_scope(principal, Scope.EVENTS_READ)
    if fat:
        require_scope(principal, Scope.ORDERS_READ)
    if filter is None:
        return log.EventQuery(store_ids=visible_stores(principal, None))
    order_ids = None
    if filter.order_ids is not None:
        try:
            order_ids = [ids.decode_as("Order", value) for value in filter.order_ids]
        except ids.BadId:
            raise bad_input("Not an order id in orderIds.") from None
    wanted = None if filter.store_ids is None else [str(s) for s in filter.store_ids]
    return log.EventQuery(
        store_ids=visible_stores(principal, wanted),
        order_ids=order_ids,
        types=filter.types,
    )


async def read_events(
    info: Info, filter: OrderEventFilter | None, after: str | None, first: int
) -> OrderEventConnection:
    query = event_query(filter, info.context.principal, selects_order(info.selected_fields))
    if not 1 <= first <= MAX_EVENT_PAGE:
        raise bad_input(f"first must be from 1 to {MAX_EVENT_PAGE}.")
    start = await resumable(info.context.db, position_of(after)) if after else 0
    async with info.context.db.read() as conn:
        events = await log.read_after(conn, start, query, first + 1)
    page = [OrderEvent.of(event) for event in events[:first]]
    return OrderEventConnection(
        edges=[OrderEventEdge(cursor=event.cursor, node=event) for event in page],
        page_info=PageInfo(
            has_next_page=len(events) > first,
            # An empty page keeps the caller's place, so a poller can pass endCursor back as is.
            end_cursor=page[-1].cursor if page else after,
        ),
    )
