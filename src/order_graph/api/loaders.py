"""Per-request DataLoaders: every list under an order is fetched in one statement per page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from aiodataloader import DataLoader
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension

from order_graph.domain.changes import OrderChangeRecord
from order_graph.domain.deadlines import Deadline
from order_graph.domain.model import (
    DiscountRecord,
    ItemRecord,
    OrderRecord,
    StatusChangeRecord,
)
from order_graph.preview import Preview
from order_graph.storage import changes as item_store
from order_graph.storage import deadlines as deadline_store
from order_graph.storage import orders as store
from order_graph.storage.database import Database

K = TypeVar("K")
V = TypeVar("V")
Fetch = Callable[[AsyncConnection, Sequence[K]], Awaitable[Mapping[K, V]]]


# Ids per statement: PostgreSQL binds at most 32,767 parameters, and a router may send more
# order representations than that when the body and cost limits are raised.
MAX_BATCH = 5_000


class _Loader(DataLoader[K, V]):
    def __init__(self, db: Database, fetch: Fetch[K, V], default: Callable[[], V]) -> None:
        super().__init__(max_batch_size=MAX_BATCH)
        self._db = db
        self._fetch = fetch
        self._default = default

    async def batch_load_fn(self, keys: list[K]) -> list[V]:
        async with self._db.read() as conn:
            found = await self._fetch(conn, keys)
        return [found.get(key, self._default()) for key in keys]


def _none() -> Any:
    return None


class Loaders:
    def __init__(self, db: Database) -> None:
        self.orders: _Loader[int, OrderRecord | None] = _Loader(db, store.get_orders, _none)
        self.items: _Loader[int, list[ItemRecord]] = _Loader(db, store.items_by_order, list)
        self.discounts: _Loader[int, list[DiscountRecord]] = _Loader(
            db, store.discounts_by_order, list
        )
        self.history: _Loader[int, list[StatusChangeRecord]] = _Loader(
            db, store.history_by_order, list
        )
        self.changes: _Loader[int, list[OrderChangeRecord]] = _Loader(
            db, item_store.changes_by_order, list
        )
        self.deadlines: _Loader[int, list[Deadline]] = _Loader(db, deadline_store.by_orders, list)

    def forget(self, order_id: int) -> None:
        """After a change: later fields of this request must not see the order as it was."""
        loaders = (self.orders, self.items, self.discounts, self.history, self.changes)
        for loader in (*loaders, self.deadlines):
            loader.clear(order_id)

    @classmethod
    def of_preview(cls, db: Database, preview: Preview) -> Loaders:
        """Loaders that answer for a dry run's order from what it would be: it is not stored."""
        loaders = cls(db)
        order_id = preview.order.id
        loaders.orders.prime(order_id, preview.order)
        loaders.items.prime(order_id, preview.items)
        loaders.discounts.prime(order_id, preview.discounts)
        loaders.history.prime(order_id, preview.history)
        loaders.changes.prime(order_id, preview.changes)
        return loaders

    def prime(self, orders: Sequence[OrderRecord]) -> None:
        for order in orders:
            self.orders.prime(order.id, order)


class FreshLoaders(SchemaExtension):
    """Each operation gets loaders of its own. A websocket's context lives as long as the
    connection, and no operation on it may answer from what an earlier one loaded."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(getattr(context, "request", None), WebSocket):
            context.loaders = Loaders(context.db)
        yield
