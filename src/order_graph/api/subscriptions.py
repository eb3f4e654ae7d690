"""`Subscription.orderEvents`: catch-up then live, by cursor, with bursts batched.

The resolver yields a `Delivery` per event; `api/multiplex.py` executes it once for every
subscriber of the same cohort (same selection, variables and visibility)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Iterable
from itertools import chain

import strawberry
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from order_graph.api.context import Info
from order_graph.api.events import OrderEvent, event_query, position_of, resumable
from order_graph.api.inputs import OrderEventFilter
from order_graph.api.loaders import Loaders
from order_graph.api.multiplex import Delivery, loaders_for
from order_graph.domain.model import EventRecord
from order_graph.ops.metrics import SUBSCRIPTION_DELIVERIES, SUBSCRIPTIONS


def _fields(selections: Iterable[Selection]) -> dict[str, SelectedField]:
    found: dict[str, SelectedField] = {}
    for selection in selections:
        if isinstance(selection, SelectedField):
            found[selection.name] = selection
        elif isinstance(selection, FragmentSpread | InlineFragment):
            found.update(_fields(selection.selections))
    return found


async def _prefetch(loaders: Loaders, events: Iterable[EventRecord], order: SelectedField) -> None:
    """Loads the orders of a burst, and the lists selected under them, a statement each."""
    ids = list(dict.fromkeys(event.order_id for event in events))
    wanted = _fields(order.selections)
    loads: list[Awaitable[object]] = [loaders.orders.load_many(ids)]
    if "items" in wanted:
        loads.append(loaders.items.load_many(ids))
    if "discounts" in wanted:
        loads.append(loaders.discounts.load_many(ids))
    if "statusHistory" in wanted:
        loads.append(loaders.history.load_many(ids))
    if "changes" in wanted:
        loads.append(loaders.changes.load_many(ids))
    await asyncio.gather(*loads)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Every event after `after` (the whole retained log when `after` is null and "
        "`fromStart` is true; else only new ones), then live ones, in log order, with no gap "
        "and no duplicate."
    )
    async def order_events(
        self,
        info: Info,
        filter: OrderEventFilter | None = None,
        after: str | None = None,
        from_start: bool | None = False,
    ) -> AsyncGenerator[OrderEvent, None]:  # each a `Delivery`, rendered by multiplex
        ctx = info.context
        hub = ctx.hub
        assert hub is not None, "subscriptions are served by the app, which has a hub"
        order = _fields(info.selected_fields).get("orderEvents")
        order_field = _fields(order.selections).get("order") if order else None
        query = event_query(filter, ctx.principal, fat=order_field is not None)
        if after is not None:
            start = await resumable(ctx.db, position_of(after))
        elif from_start:
            start = 0
        else:
            start = await hub.current_head()
        SUBSCRIPTIONS.inc()
        try:
            async for batch in hub.follow(start, query):
                # Loaders per hub read, shared by every subscriber it woke: a fat message shows
                # the order as it is now, not as an earlier event of this connection saw it.
                loaders = loaders_for(hub, ctx.db, batch.generation)
                if order_field is not None:
                    # The first fat subscriber woken by a read loads the orders of all of it,
                    # for every subscriber of every store: a statement per list, per read.
                    shared = hub.newest_read if batch.generation == hub.generation else []
                    await _prefetch(loaders, chain(batch, shared), order_field)
                SUBSCRIPTION_DELIVERIES.inc(len(batch))
                for event in batch:
                    yield Delivery(event, loaders)  # type: ignore[misc]
        finally:
            SUBSCRIPTIONS.dec()
