"""GraphQL input types and their conversion into domain commands."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry
from strawberry.scalars import JSON

from order_graph.api.enums import Channel, DiscountKind, FulfillmentType, MainStatus, OrderEventType
from order_graph.domain import model


@strawberry.input
class ExternalRefInput:
    platform: str
    order_id: str


@strawberry.input
class OrderItemInput:
    sku_id: strawberry.ID
    name: str
    quantity: int
    unit_price: Decimal
    attributes: JSON | None = None

    def command(self) -> model.ItemInput:
        return model.ItemInput(
            str(self.sku_id), self.name, self.quantity, self.unit_price, self.attributes
        )


@strawberry.input
class DiscountInput:
    kind: DiscountKind
    code: str | None = None
    description: str | None = None
    amount: Decimal
    item_index: int | None = strawberry.field(
        default=None,
        description="Index into the order's items for an item-level result; null for order level.",
    )
    funded_by: str | None = None

    def command(self) -> model.DiscountInput:
        return model.DiscountInput(
            self.kind, self.amount, self.code, self.description, self.item_index, self.funded_by
        )


@strawberry.input
class CreateOrderInput:
    store_id: strawberry.ID
    channel: Channel
    external_ref: ExternalRefInput | None = None
    customer_id: strawberry.ID | None = None
    fulfillment_type: FulfillmentType
    currency: str
    items: list[OrderItemInput]
    discounts: list[DiscountInput] | None = None
    delivery_fee: Decimal | None = None
    packaging_fee: Decimal | None = None
    initial_status: MainStatus | None = strawberry.field(
        default=None,
        description="CREATED or PAID (orders synced from a platform usually arrive paid).",
    )
    sub_status: str | None = None
    remark: str | None = None
    attributes: JSON | None = None
    expected_payable_total: Decimal | None = strawberry.field(
        default=None, description="When given, must equal the computed payableTotal, or VALIDATION."
    )

    def command(self) -> model.CreateOrder:
        external = self.external_ref
        return model.CreateOrder(
            store_id=str(self.store_id),
            channel=self.channel,
            fulfillment_type=self.fulfillment_type,
            currency=self.currency,
            items=tuple(item.command() for item in self.items),
            external_platform=external.platform if external else None,
            external_order_id=external.order_id if external else None,
            customer_id=None if self.customer_id is None else str(self.customer_id),
            discounts=tuple(d.command() for d in self.discounts or ()),
            delivery_fee=self.delivery_fee,
            packaging_fee=self.packaging_fee,
            initial_status=self.initial_status,
            sub_status=self.sub_status,
            remark=self.remark,
            attributes=self.attributes,
            expected_payable_total=self.expected_payable_total,
        )


@strawberry.input
class TransitionOrderInput:
    order_id: strawberry.ID
    to: MainStatus
    sub_status: str | None = strawberry.field(
        default=None,
        description="A sub-status registered for the target main status; the sub-status is "
        "cleared when omitted.",
    )
    reason: str | None = None
    expected_version: int | None = None


@strawberry.input
class SetSubStatusInput:
    order_id: strawberry.ID
    sub_status: str | None = strawberry.field(
        default=None, description="Null clears the sub-status."
    )
    reason: str | None = None
    expected_version: int | None = None


@strawberry.input
class ReplaceDiscountsInput:
    order_id: strawberry.ID
    discounts: list[DiscountInput]
    expected_version: int | None = None


@strawberry.input
class UpdateOrderInput:
    order_id: strawberry.ID
    remark: str | None = strawberry.UNSET
    attributes: JSON | None = strawberry.field(
        default=None,
        description="Shallow-merged into the stored attributes; a key set to null is removed.",
    )
    expected_version: int | None = None


@strawberry.input
class DefineSubStatusInput:
    main_status: MainStatus
    code: str = strawberry.field(description="Upper snake case, e.g. RIDER_ASSIGNED.")
    description: str | None = None


@strawberry.input
class OrderFilter:
    store_ids: list[strawberry.ID] | None = None
    main_statuses: list[MainStatus] | None = None
    sub_statuses: list[str] | None = None
    channels: list[Channel] | None = None
    customer_id: strawberry.ID | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    due_within_minutes: int | None = strawberry.field(
        default=None,
        description="Only orders with a deadline due within this many minutes from now "
        "(overdue ones included): 0 to 43200.",
    )


@strawberry.input
class OrderEventFilter:
    store_ids: list[strawberry.ID] | None = None
    order_ids: list[strawberry.ID] | None = None
    types: list[OrderEventType] | None = None
