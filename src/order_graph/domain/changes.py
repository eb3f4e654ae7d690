"""Changes of an order's items after it was placed, as the caller asks for them and as they are
kept: an immutable record per change, with the version it produced.

order-graph computes nothing about money here beyond arithmetic. The caller (a promotion or
finance service, a platform's sync program) gives the new discount results and the refund;
the rules (domain/item_rules.py) check that the numbers add up. The arithmetic, exactly, in
integer minor units:

    lineTotal      = unitPrice x quantity        quantity: as ordered, cancelled units included
    activeQuantity = quantity - cancelledQuantity
    itemsTotal     = sum of lineTotal
    discountTotal  = sum of the discount results
    refundedTotal  = sum of the refundAmount of every cancellation
    payableTotal   = itemsTotal + deliveryFee + packagingFee - discountTotal - refundedTotal

Before payment (CREATED), `changeItems` sets the ordered quantities themselves and replaces
the discount results: every total is derived again, and nothing is refunded. After payment
(PAID, ACCEPTED), `cancelItems` leaves what was ordered and discounted as it was paid: it moves
units into `cancelledQuantity` and adds the caller's refund to `refundedTotal`, so
`payableTotal` is what the customer has paid, net of refunds. Discount results may be
re-allocated among the lines then, keeping their total: the refund carries the money.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from order_graph.domain.model import (
    DiscountDraft,
    DiscountInput,
    DiscountKind,
    ItemDraft,
    ItemInput,
)


class ChangeKind(StrEnum):
    ITEMS_CHANGED = "ITEMS_CHANGED"  # changeItems, before payment
    ITEMS_CANCELLED = "ITEMS_CANCELLED"  # cancelItems, after payment


# --- Commands: raw input as the caller sent it --------------------------------------------


@dataclass(frozen=True, slots=True)
class LineQuantity:
    item_id: int | None  # None: not an item id at all (reported like an unknown one)
    quantity: int


@dataclass(frozen=True, slots=True)
class ChangeItems:
    add: tuple[ItemInput, ...]
    # New ordered quantities of existing lines; 0 removes the line.
    quantities: tuple[LineQuantity, ...]
    # The discount results for the order as it will be; they replace the stored ones.
    discounts: tuple[DiscountInput, ...]
    reason: str | None = None
    expected_payable_total: Decimal | None = None


@dataclass(frozen=True, slots=True)
class CancelItems:
    # Units to cancel per line.
    lines: tuple[LineQuantity, ...]
    reason: str
    refund_amount: Decimal
    # Re-allocated discount results (same total); None keeps the stored ones.
    discounts: tuple[DiscountInput, ...] | None = None
    expected_payable_total: Decimal | None = None


# --- Records: what a change did, as it is kept --------------------------------------------


@dataclass(frozen=True, slots=True)
class ChangeLine:
    """One line a change touched. Quantities are ordered quantities: 0 before means the line
    was added, 0 after that it was removed; `cancelled_quantity` is what this change cancelled."""

    item_id: int
    sku_id: str
    name: str
    unit_price: int
    quantity_before: int
    quantity_after: int
    cancelled_quantity: int


@dataclass(frozen=True, slots=True)
class ChangeDiscount:
    """A discount result as the caller gave it with a change."""

    kind: DiscountKind
    amount: int
    code: str | None
    description: str | None
    item_id: int | None
    funded_by: str | None


@dataclass(frozen=True, slots=True)
class ChangeDraft:
    """A change as decided, before the version and time it gets when it is applied."""

    kind: ChangeKind
    lines: tuple[ChangeLine, ...]
    discounts: tuple[ChangeDiscount, ...] | None  # None: the stored results were kept
    refund_amount: int | None  # cancellations only
    reason: str | None


@dataclass(frozen=True, slots=True)
class OrderChangeRecord:
    order_id: int
    version: int
    kind: ChangeKind
    lines: tuple[ChangeLine, ...]
    discounts: tuple[ChangeDiscount, ...] | None
    refund_amount: int | None
    reason: str | None
    actor: str
    occurred_at: datetime


# --- Plans: what to write to the order's item and discount rows ---------------------------


@dataclass(frozen=True, slots=True)
class LineUpdate:
    item_id: int
    quantity: int
    line_total: int
    cancelled_quantity: int


@dataclass(frozen=True, slots=True)
class PendingLine:
    """A line of the record whose item does not exist yet: an added line gets its id when
    it is stored."""

    draft: ItemDraft


@dataclass(frozen=True, slots=True)
class ItemsPlan:
    kind: ChangeKind
    updates: tuple[LineUpdate, ...]
    removed: tuple[int, ...]
    added: tuple[ItemDraft, ...]
    first_position: int  # of the added lines
    kept: tuple[int, ...]  # ids of the existing lines that stay, in position order
    # None keeps the stored results. Item indexes count the kept lines, then the added ones.
    discounts: tuple[DiscountDraft, ...] | None
    values: dict[str, object]  # new column values of the order
    lines: tuple[ChangeLine | PendingLine, ...]
    refund_amount: int | None
    reason: str | None
    cancels_order: bool
