"""The GraphQL object types. `Order` is built from a stored record; lists load via DataLoaders."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from order_graph.api import ids
from order_graph.api.change_types import OrderChange
from order_graph.api.context import Info
from order_graph.api.deadlines import OrderDeadline
from order_graph.api.enums import Channel, DiscountKind, FulfillmentType, MainStatus
from order_graph.api.loaders import Loaders
from order_graph.api.money import Money, money
from order_graph.domain.deadlines import next_of
from order_graph.domain.model import (
    DiscountRecord,
    ItemRecord,
    OrderRecord,
    StatusChangeRecord,
)
from order_graph.domain.status import allowed_transitions


@strawberry.interface
class Node:
    id: strawberry.ID


@strawberry.type
class ExternalRef:
    platform: str
    order_id: str


@strawberry.type
class OrderItem:
    id: strawberry.ID
    sku_id: strawberry.ID
    name: str
    quantity: int = strawberry.field(description="As ordered, cancelled units included.")
    unit_price: Money
    line_total: Money = strawberry.field(description="unitPrice x quantity")
    attributes: JSON
    cancelled_quantity: int = strawberry.field(
        description="Units cancelled after payment (cancelItems)."
    )
    active_quantity: int = strawberry.field(
        description="quantity - cancelledQuantity: what is still to be made and handed over."
    )

    @classmethod
    def of(cls, item: ItemRecord, currency: str) -> OrderItem:
        return cls(
            id=strawberry.ID(ids.encode("OrderItem", item.id)),
            sku_id=strawberry.ID(item.sku_id),
            name=item.name,
            quantity=item.quantity,
            unit_price=money(item.unit_price, currency),
            line_total=money(item.line_total, currency),
            attributes=JSON(item.attributes),
            cancelled_quantity=item.cancelled_quantity,
            active_quantity=item.active_quantity,
        )


@strawberry.type
class OrderDiscount:
    id: strawberry.ID
    kind: DiscountKind
    code: str | None
    description: str | None
    amount: Money
    item_id: strawberry.ID | None = strawberry.field(
        description="The item this result applies to; null for an order-level result."
    )
    funded_by: str | None = strawberry.field(
        description='Who funds the discount (e.g. "MERCHANT", "PLATFORM"), as told by the '
        "service that computed it."
    )

    @classmethod
    def of(cls, discount: DiscountRecord, currency: str) -> OrderDiscount:
        item = discount.item_id
        return cls(
            id=strawberry.ID(ids.encode("OrderDiscount", discount.id)),
            kind=discount.kind,
            code=discount.code,
            description=discount.description,
            amount=money(discount.amount, currency),
            item_id=None if item is None else strawberry.ID(ids.encode("OrderItem", item)),
            funded_by=discount.funded_by,
        )


@strawberry.type
class StatusChange:
    from_main_status: MainStatus | None
    to_main_status: MainStatus
    from_sub_status: str | None
    to_sub_status: str | None
    reason: str | None
    actor: str = strawberry.field(description="The client application that made the change.")
    occurred_at: datetime
    version: int = strawberry.field(description="The order version that this change produced.")

    @classmethod
    def of(cls, change: StatusChangeRecord) -> StatusChange:
        return cls(
            from_main_status=change.from_main_status,
            to_main_status=change.to_main_status,
            from_sub_status=change.from_sub_status,
            to_sub_status=change.to_sub_status,
            reason=change.reason,
            actor=change.actor,
            occurred_at=change.occurred_at,
            version=change.version,
        )


@strawberry.type
class Order(Node):
    order_no: str = strawberry.field(description="Human-readable, unique order number.")
    version: int = strawberry.field(
        description="Increases by one with every change; pass it back as expectedVersion."
    )
    store_id: strawberry.ID
    channel: Channel
    external_ref: ExternalRef | None
    customer_id: strawberry.ID | None
    fulfillment_type: FulfillmentType
    main_status: MainStatus
    sub_status: str | None
    currency: str
    items_total: Money
    discount_total: Money
    delivery_fee: Money
    packaging_fee: Money
    payable_total: Money = strawberry.field(
        description="itemsTotal + deliveryFee + packagingFee - discountTotal - refundedTotal: "
        "what the customer pays, net of refunds."
    )
    refunded_total: Money = strawberry.field(
        description="The sum of the refunds given with cancelled items (cancelItems)."
    )
    remark: str | None
    attributes: JSON
    created_at: datetime
    updated_at: datetime
    record: strawberry.Private[OrderRecord]
    # Set for orders inside subscription events, whose loaders live per burst, not per request.
    loaders: strawberry.Private[Loaders | None] = None

    def _loaders(self, info: Info) -> Loaders:
        return self.loaders or info.context.loaders

    @strawberry.field(description="The main statuses this order may move to next.")
    def allowed_transitions(self) -> list[MainStatus]:
        return list(allowed_transitions(self.record.main_status))

    @strawberry.field
    async def items(self, info: Info) -> list[OrderItem]:
        found = await self._loaders(info).items.load(self.record.id)
        return [OrderItem.of(item, self.currency) for item in found]

    @strawberry.field
    async def discounts(self, info: Info) -> list[OrderDiscount]:
        found = await self._loaders(info).discounts.load(self.record.id)
        return [OrderDiscount.of(discount, self.currency) for discount in found]

    @strawberry.field(description="Oldest first.")
    async def status_history(self, info: Info) -> list[StatusChange]:
        found = await self._loaders(info).history.load(self.record.id)
        # An order replayed for an idempotent retry shows the history as it then stood.
        version = self.record.version
        return [StatusChange.of(change) for change in found if change.version <= version]

    @strawberry.field(
        description="Every change of the order's items (changeItems, cancelItems), oldest "
        "first, each with the version it produced."
    )
    async def changes(self, info: Info) -> list[OrderChange]:
        found = await self._loaders(info).changes.load(self.record.id)
        # As statusHistory: an order replayed for an idempotent retry shows them as they stood.
        version = self.record.version
        return [
            OrderChange.of(change, self.currency) for change in found if change.version <= version
        ]

    @strawberry.field(
        description="The next deadline of this order in its main status; null "
        "when no deadline rule applies (any more)."
    )
    async def deadline(self, info: Info) -> OrderDeadline | None:
        found = next_of(await self._loaders(info).deadlines.load(self.record.id))
        return None if found is None else OrderDeadline.of(found)

    @classmethod
    def of(cls, order: OrderRecord, loaders: Loaders | None = None) -> Order:
        currency = order.currency
        external = (
            ExternalRef(platform=order.external_platform, order_id=order.external_order_id)
            if order.external_platform is not None and order.external_order_id is not None
            else None
        )
        return cls(
            id=strawberry.ID(ids.encode("Order", order.id)),
            order_no=order.order_no,
            version=order.version,
            store_id=strawberry.ID(order.store_id),
            channel=order.channel,
            external_ref=external,
            customer_id=None if order.customer_id is None else strawberry.ID(order.customer_id),
            fulfillment_type=order.fulfillment_type,
            main_status=order.main_status,
            sub_status=order.sub_status,
            currency=currency,
            items_total=money(order.items_total, currency),
            discount_total=money(order.discount_total, currency),
            delivery_fee=money(order.delivery_fee, currency),
            packaging_fee=money(order.packaging_fee, currency),
            payable_total=money(order.payable_total, currency),
            refunded_total=money(order.refunded_total, currency),
            remark=order.remark,
            attributes=JSON(order.attributes),
            created_at=order.created_at,
            updated_at=order.updated_at,
            record=order,
            loaders=loaders,
        )


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class OrderEdge:
    cursor: str
    node: Order


@strawberry.type
class OrderConnection:
    edges: list[OrderEdge]
    page_info: PageInfo


@strawberry.type
class MainStatusTransition:
    from_: MainStatus = strawberry.field(name="from")
    to: list[MainStatus]


@strawberry.type
class SubStatusDefinition:
    code: str
    main_status: MainStatus
    description: str | None
    defined_by: str
