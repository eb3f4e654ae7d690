"""`Order.changes` as GraphQL: each item change, immutable, as it was made."""

from __future__ import annotations

from datetime import datetime

import strawberry

from order_graph.api import ids
from order_graph.api.enums import DiscountKind
from order_graph.api.money import Money, money
from order_graph.domain.changes import ChangeDiscount, ChangeKind, ChangeLine, OrderChangeRecord

strawberry.enum(
    ChangeKind,
    name="OrderChangeKind",
    description="ITEMS_CHANGED: lines added, removed or re-counted before payment "
    "(changeItems). ITEMS_CANCELLED: units cancelled after payment, with a refund "
    "(cancelItems).",
)


def _item_id(item_id: int) -> strawberry.ID:
    return strawberry.ID(ids.encode("OrderItem", item_id))


@strawberry.type
class OrderChangeLine:
    item_id: strawberry.ID
    sku_id: strawberry.ID
    name: str
    unit_price: Money
    quantity_before: int = strawberry.field(
        description="The ordered quantity before the change; 0: the line was added."
    )
    quantity_after: int = strawberry.field(
        description="The ordered quantity after the change; 0: the line was removed."
    )
    cancelled_quantity: int = strawberry.field(
        description="The units this change cancelled (ITEMS_CANCELLED; 0 otherwise)."
    )

    @classmethod
    def of(cls, line: ChangeLine, currency: str) -> OrderChangeLine:
        return cls(
            item_id=_item_id(line.item_id),
            sku_id=strawberry.ID(line.sku_id),
            name=line.name,
            unit_price=money(line.unit_price, currency),
            quantity_before=line.quantity_before,
            quantity_after=line.quantity_after,
            cancelled_quantity=line.cancelled_quantity,
        )


@strawberry.type
class OrderChangeDiscount:
    kind: DiscountKind
    code: str | None
    description: str | None
    amount: Money
    item_id: strawberry.ID | None
    funded_by: str | None

    @classmethod
    def of(cls, discount: ChangeDiscount, currency: str) -> OrderChangeDiscount:
        item = discount.item_id
        return cls(
            kind=discount.kind,
            code=discount.code,
            description=discount.description,
            amount=money(discount.amount, currency),
            item_id=None if item is None else _item_id(item),
            funded_by=discount.funded_by,
        )


@strawberry.type
class OrderChange:
    kind: ChangeKind
    version: int = strawberry.field(description="The order version that this change produced.")
    lines: list[OrderChangeLine] = strawberry.field(description="The lines it touched.")
    discounts: list[OrderChangeDiscount] | None = strawberry.field(
        description="The discount results given with the change, which replaced the stored "
        "ones; null when a cancellation kept them."
    )
    refund_amount: Money | None = strawberry.field(
        description="The refund given with a cancellation; null for ITEMS_CHANGED."
    )
    reason: str | None
    actor: str = strawberry.field(description="The client application that made the change.")
    occurred_at: datetime

    @classmethod
    def of(cls, change: OrderChangeRecord, currency: str) -> OrderChange:
        discounts = change.discounts
        refund = change.refund_amount
        return cls(
            kind=change.kind,
            version=change.version,
            lines=[OrderChangeLine.of(line, currency) for line in change.lines],
            discounts=None
            if discounts is None
            else [OrderChangeDiscount.of(d, currency) for d in discounts],
            refund_amount=None if refund is None else money(refund, currency),
            reason=change.reason,
            actor=change.actor,
            occurred_at=change.occurred_at,
        )
