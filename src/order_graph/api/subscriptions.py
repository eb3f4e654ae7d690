"""`Subscription.orderEvents`: catch-up then live, by cursor, with bursts batched.

The resolver yields a `Delivery` per event; `api/multiplex.py` executes it once for every
subscriber of the same cohort (same selection, variables and visibility)."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncGenerator, Awaitable, Iterable

import strawberry
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from order_graph.api.context import Info
from order_graph.api.events import OrderEvent, event_query, position_of, resumable
from order_graph.api.inputs import OrderEventFilter
from order_graph.api.loaders import Loaders
from order_graph.api.multiplex import Delivery, loaders_for
from order_graph.domain.model import EventRecord
from order_graph.events.tail import Batch
from order_graph.ops.metrics import SUBSCRIPTION_DELIVERIES, SUBSCRIPTIONS


def _fields(selections: Iterable[Selection]) -> dict[str, SelectedField]:
    found: dict[str, SelectedField] = {}
    for selection in selections:
        if isinstance(selection, SelectedField):
            found[selection.name] = selection
        elif isinstance(selection, FragmentSpread | InlineFragment):
            found.update(_fields(selection.selections))
    return found


LISTS = {
    "items": lambda loaders: loaders.items,
    "discounts": lambda loaders: loaders.discounts,
    "statusHistory": lambda loaders: loaders.history,
    "changes": lambda loaders: loaders.changes,
}


def _lists(order: SelectedField) -> frozenset[str]:
    """The lists selected under a fat event's order."""
    wanted = _fields(order.selections)
    return frozenset(name for name in LISTS if name in wanted)


async def _prefetch(loaders: Loaders, events: Iterable[EventRecord], lists: frozenset[str]) -> None:
    """Loads the orders of a burst, and the lists selected under them, a statement each."""
    ids = list(dict.fromkeys(event.order_id for event in events))
    loads: list[Awaitable[object]] = [loaders.orders.load_many(ids)]
    loads.extend(LISTS[name](loaders).load_many(ids) for name in lists)
    await asyncio.gather(*loads)


# Per shared loaders (one hub read), the loading of the whole read, per selection of lists.
_reads: weakref.WeakKeyDictionary[Loaders, dict[frozenset[str], asyncio.Future[None]]] = (
    weakref.WeakKeyDictionary()
)


async def _prefetch_read(loaders: Loaders, read: list[EventRecord], lists: frozenset[str]) -> None:
    """The first fat subscriber woken by a hub read loads the orders of all of it, for every
    subscriber of every store; the others wait for that load rather than start their own."""
    loading = _reads.setdefault(loaders, {})
    task = loading.get(lists)
    if task is None:
        task = loading[lists] = asyncio.ensure_future(_prefetch(loaders, read, lists))
        # A failed load is not kept for the others: the next one woken tries again.
        task.add_done_callback(
            lambda done: (
                loading.pop(lists, None)
                if not done.cancelled() and done.exception() is not None
                else None
            )
        )
    await asyncio.shield(task)


def in_read(batch: Batch, generation: int, read: list[EventRecord]) -> bool:
    """Whether every event of `batch` comes from the hub's newest read."""
    return batch.generation == generation and bool(read) and batch[0].position >= read[0].position


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
        lists = None if order_field is None else _lists(order_field)
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
                if lists is not None and in_read(batch, hub.generation, hub.newest_read):
                    await _prefetch_read(loaders, hub.newest_read, lists)
                elif lists is not None:
                    await _prefetch(loaders, batch, lists)
                SUBSCRIPTION_DELIVERIES.inc(len(batch))
                for event in batch:
                    yield Delivery(event, loaders)  # type: ignore[misc]
        finally:
            SUBSCRIPTIONS.dec()
