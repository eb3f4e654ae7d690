"""Orders as the service stores them, and the commands that change them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from order_graph.domain.status import MainStatus

if TYPE_CHECKING:
    from order_graph.domain.changes import ChangeDraft

JSONObject = dict[str, Any]


class Channel(StrEnum):
    MINI_PROGRAM = "MINI_PROGRAM"
    APP = "APP"
    DELIVERY_PLATFORM = "DELIVERY_PLATFORM"
    POS = "POS"
    WEB = "WEB"


class FulfillmentType(StrEnum):
    DELIVERY = "DELIVERY"
    PICKUP = "PICKUP"
    DINE_IN = "DINE_IN"


class DiscountKind(StrEnum):
    COUPON = "COUPON"
    PROMOTION = "PROMOTION"
    MEMBERSHIP = "MEMBERSHIP"
    PLATFORM = "PLATFORM"
    MANUAL = "MANUAL"


class EventType(StrEnum):
    CREATED = "CREATED"
    STATUS_CHANGED = "STATUS_CHANGED"
    SUB_STATUS_CHANGED = "SUB_STATUS_CHANGED"
    DISCOUNTS_CHANGED = "DISCOUNTS_CHANGED"
    UPDATED = "UPDATED"
    # Items edited before payment or cancelled after it (see domain/changes.py). A consumer
    # must ignore event types it does not know: the list grows.
    ITEMS_CHANGED = "ITEMS_CHANGED"


# --- Commands: raw input as the caller sent it, before validation -----------------------


@dataclass(frozen=True, slots=True)
class ItemInput:
    sku_id: str
    name: str
    quantity: int
    unit_price: Decimal
    attributes: object = None


@dataclass(frozen=True, slots=True)
class DiscountInput:
    kind: DiscountKind
    amount: Decimal
    code: str | None = None
    description: str | None = None
    item_index: int | None = None
    funded_by: str | None = None


@dataclass(frozen=True, slots=True)
class CreateOrder:
    store_id: str
    channel: Channel
    fulfillment_type: FulfillmentType
    currency: str
    items: tuple[ItemInput, ...]
    external_platform: str | None = None
    external_order_id: str | None = None
    customer_id: str | None = None
    discounts: tuple[DiscountInput, ...] = ()
    delivery_fee: Decimal | None = None
    packaging_fee: Decimal | None = None
    initial_status: MainStatus | None = None
    sub_status: str | None = None
    remark: str | None = None
    attributes: object = None
    expected_payable_total: Decimal | None = None


# --- Validated drafts: what will be stored, amounts in minor units -----------------------


@dataclass(frozen=True, slots=True)
class ItemDraft:
    sku_id: str
    name: str
    quantity: int
    unit_price: int
    attributes: JSONObject

    @property
    def line_total(self) -> int:
        return self.unit_price * self.quantity


@dataclass(frozen=True, slots=True)
class DiscountDraft:
    kind: DiscountKind
    amount: int
    code: str | None
    description: str | None
    item_index: int | None
    funded_by: str | None


@dataclass(frozen=True, slots=True)
class Totals:
    items_total: int
    discount_total: int
    delivery_fee: int
    packaging_fee: int

    @property
    def payable_total(self) -> int:
        return self.items_total + self.delivery_fee + self.packaging_fee - self.discount_total


@dataclass(frozen=True, slots=True)
class OrderDraft:
    store_id: str
    channel: Channel
    fulfillment_type: FulfillmentType
    currency: str
    items: tuple[ItemDraft, ...]
    discounts: tuple[DiscountDraft, ...]
    totals: Totals
    main_status: MainStatus
    sub_status: str | None
    external_platform: str | None
    external_order_id: str | None
    customer_id: str | None
    remark: str | None
    attributes: JSONObject


# --- Stored records --------------------------------------------------------------------


@dataclass(slots=True)
class OrderRecord:
    id: int
    version: int
    store_id: str
    channel: Channel
    fulfillment_type: FulfillmentType
    currency: str
    main_status: MainStatus
    sub_status: str | None
    items_total: int
    discount_total: int
    delivery_fee: int
    packaging_fee: int
    payable_total: int
    external_platform: str | None
    external_order_id: str | None
    customer_id: str | None
    remark: str | None
    attributes: JSONObject
    created_at: datetime
    updated_at: datetime
    created_by: str = ""
    # The sum of the refunds of cancelled items (see domain/changes.py).
    refunded_total: int = 0

    @property
    def order_no(self) -> str:
        """Human readable and unique: the creation date (UTC) and the order's sequence."""
        return f"{self.created_at:%Y%m%d}{self.id:08d}"


@dataclass(frozen=True, slots=True)
class ItemRecord:
    id: int
    order_id: int
    position: int
    sku_id: str
    name: str
    quantity: int
    unit_price: int
    line_total: int
    attributes: JSONObject
    # Units cancelled after payment; `quantity` stays what was ordered.
    cancelled_quantity: int = 0

    @property
    def active_quantity(self) -> int:
        return self.quantity - self.cancelled_quantity


@dataclass(frozen=True, slots=True)
class DiscountRecord:
    id: int
    order_id: int
    position: int
    kind: DiscountKind
    code: str | None
    description: str | None
    amount: int
    item_id: int | None
    funded_by: str | None


@dataclass(frozen=True, slots=True)
class StatusChangeRecord:
    order_id: int
    from_main_status: MainStatus | None
    to_main_status: MainStatus
    from_sub_status: str | None
    to_sub_status: str | None
    reason: str | None
    actor: str
    occurred_at: datetime
    version: int


@dataclass(frozen=True, slots=True)
class SubStatusDefinition:
    main_status: MainStatus
    code: str
    description: str | None
    defined_by: str


@dataclass(frozen=True, slots=True)
class EventRecord:
    position: int
    type: EventType
    order_id: int
    store_id: str
    version: int
    main_status: MainStatus
    sub_status: str | None
    previous_main_status: MainStatus | None
    previous_sub_status: str | None
    actor: str
    occurred_at: datetime


@dataclass(slots=True)
class Change:
    """What a command did to an order: the new field values and the event to record."""

    event_type: EventType
    values: dict[str, Any] = field(default_factory=dict)
    status_change: bool = False
    # Recorded (new version, event) even when no column of the order changes, e.g. its
    # discounts were replaced by ones with the same total.
    always: bool = False
    # An item change, stored in the order's `changes` with the version it produces.
    record: ChangeDraft | None = None
