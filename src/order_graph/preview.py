"""Dry runs: a change made to its end inside a transaction that is then rolled back, and the
order as it would have been, read before the rollback."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from order_graph.domain.changes import OrderChangeRecord
from order_graph.domain.model import DiscountRecord, ItemRecord, OrderRecord, StatusChangeRecord
from order_graph.storage import changes as item_store
from order_graph.storage import orders as store


@dataclass(frozen=True, slots=True)
class Preview:
    """An order and everything under it as a change would leave it."""

    order: OrderRecord
    items: list[ItemRecord]
    discounts: list[DiscountRecord]
    history: list[StatusChangeRecord]
    changes: list[OrderChangeRecord]


class DryRun:
    """Asks `OrderService._change` for a dry run; holds the preview it made."""

    def __init__(self) -> None:
        self.preview: Preview | None = None


class RolledBack(Exception):
    """Ends a dry run's transaction, which rolls it back."""

    def __init__(self, order: OrderRecord) -> None:
        super().__init__("dry run")
        self.order = order


async def preview_of(conn: AsyncConnection, order: OrderRecord) -> Preview:
    ids = [order.id]
    return Preview(
        order=order,
        items=(await store.items_by_order(conn, ids)).get(order.id, []),
        discounts=(await store.discounts_by_order(conn, ids)).get(order.id, []),
        history=(await store.history_by_order(conn, ids)).get(order.id, []),
        changes=(await item_store.changes_by_order(conn, ids)).get(order.id, []),
    )
