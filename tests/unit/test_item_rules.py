"""The item-change rules on plain domain objects: the arithmetic, and what they refuse."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from order_graph.domain import limits
from order_graph.domain.changes import CancelItems, ChangeItems, ChangeKind, LineQuantity
from order_graph.domain.errors import ErrorCode, Rejected
from order_graph.domain.item_rules import cancel_items, change_items, change_of
from order_graph.domain.model import (
    DiscountInput,
    DiscountKind,
    EventType,
    ItemInput,
    ItemRecord,
)
from order_graph.domain.status import MainStatus
from tests.unit.builders import an_order

LATTE = ItemRecord(11, 1, 0, "latte", "Latte", 2, 2800, 5600, {})
BAGEL = ItemRecord(12, 1, 1, "bagel", "Bagel", 1, 1850, 1850, {})
ITEMS = [LATTE, BAGEL]
# 74.50 of items, 2.00 packaging, a 5.00 coupon: 71.50, paid.
PAID = an_order(
    main_status=MainStatus.PAID,
    items_total=7450,
    discount_total=500,
    delivery_fee=0,
    packaging_fee=200,
    payable_total=7150,
)
COUPON = DiscountInput(DiscountKind.COUPON, Decimal("5.00"))


def cancel(*lines: tuple[int, int], refund: str = "0", **extra: object) -> CancelItems:
    quantities = tuple(LineQuantity(item_id, quantity) for item_id, quantity in lines)
    return CancelItems(quantities, "Out of stock", Decimal(refund), **extra)  # type: ignore[arg-type]


def fields(rejected: pytest.ExceptionInfo[Rejected]) -> list[tuple[str, ...] | None]:
    return [error.field for error in rejected.value.errors]


def test_a_cancellation_moves_units_and_adds_the_refund_and_nothing_else() -> None:
    plan = cancel_items(PAID, ITEMS, cancel((12, 1), refund="17.25"), made=0)
    assert plan.values == {"refunded_total": 1725, "payable_total": 5425}
    assert [(u.item_id, u.quantity, u.line_total, u.cancelled_quantity) for u in plan.updates] == [
        (12, 1, 1850, 1)
    ]
    assert plan.discounts is None
    assert not plan.cancels_order


def test_cancelling_every_remaining_unit_cancels_the_order_and_clears_its_sub_status() -> None:
    accepted = replace(PAID, main_status=MainStatus.ACCEPTED, sub_status="PREPARING")
    plan = cancel_items(accepted, ITEMS, cancel((11, 2), (12, 1), refund="71.50"), made=0)
    change = change_of(plan, [])
    assert change.values["main_status"] is MainStatus.CANCELLED
    assert change.values["sub_status"] is None
    assert change.values["payable_total"] == 0
    assert change.status_change
    assert change.event_type is EventType.ITEMS_CHANGED
    assert change.record is not None
    assert change.record.kind is ChangeKind.ITEMS_CANCELLED


def test_the_refund_may_be_what_is_left_but_not_a_cent_more() -> None:
    assert cancel_items(PAID, ITEMS, cancel((11, 1), refund="71.50"), made=0)
    with pytest.raises(Rejected) as refused:
        cancel_items(PAID, ITEMS, cancel((11, 1), refund="71.51"), made=0)
    assert fields(refused) == [("input", "refundAmount")]


def test_a_zero_decimal_currency_refuses_a_fractional_refund() -> None:
    order = replace(PAID, currency="JPY")
    with pytest.raises(Rejected) as refused:
        cancel_items(order, ITEMS, cancel((11, 1), refund="1.5"), made=0)
    assert "0 decimal places" in refused.value.errors[0].message


def test_a_line_listed_twice_or_unknown_is_refused_with_the_rest() -> None:
    with pytest.raises(Rejected) as refused:
        cancel_items(PAID, ITEMS, cancel((11, 1), (11, 1), (99, 1), (12, 2)), made=0)
    assert fields(refused) == [
        ("input", "lines", "1", "itemId"),
        ("input", "lines", "2", "itemId"),
        ("input", "lines", "3", "quantity"),
    ]


def test_already_cancelled_units_are_not_active() -> None:
    half = ItemRecord(11, 1, 0, "latte", "Latte", 2, 2800, 5600, {}, cancelled_quantity=1)
    with pytest.raises(Rejected) as refused:
        cancel_items(PAID, [half, BAGEL], cancel((11, 2)), made=0)
    assert refused.value.errors[0].message == "1 of this line is active: cancel from 1 to 1."


def test_re_allocated_discounts_must_keep_the_total() -> None:
    moved = (DiscountInput(DiscountKind.COUPON, Decimal("5.00"), item_index=0),)
    plan = cancel_items(PAID, ITEMS, cancel((12, 1), discounts=moved), made=0)
    record = change_of(plan, []).record
    assert record is not None
    assert record.discounts is not None
    assert record.discounts[0].item_id == 11
    with pytest.raises(Rejected) as refused:
        cancel_items(PAID, ITEMS, cancel((12, 1), discounts=moved[:0]), made=0)
    assert fields(refused) == [("input", "discounts")]


@pytest.mark.parametrize(
    "status",
    [MainStatus.CREATED, MainStatus.FULFILLING, MainStatus.COMPLETED, MainStatus.CANCELLED],
)
def test_cancellations_are_only_for_paid_and_accepted_orders(status: MainStatus) -> None:
    with pytest.raises(Rejected) as refused:
        cancel_items(an_order(main_status=status), ITEMS, cancel((11, 1)), made=0)
    assert refused.value.errors[0].code is ErrorCode.INVALID_TRANSITION


def test_an_edit_derives_every_total_and_appends_added_lines() -> None:
    tea = ItemInput("tea", "Tea", 2, Decimal("12.00"))
    command = ChangeItems(
        add=(tea,),
        quantities=(LineQuantity(12, 0), LineQuantity(11, 1)),
        discounts=(DiscountInput(DiscountKind.PROMOTION, Decimal("3.00"), item_index=1),),
    )
    created = replace(PAID, main_status=MainStatus.CREATED)
    plan = change_items(created, ITEMS, command, made=0)
    assert plan.values == {"items_total": 5200, "discount_total": 300, "payable_total": 5100}
    assert plan.removed == (12,)
    assert plan.kept == (11,)
    assert plan.first_position == 2
    record = change_of(plan, [13]).record
    assert record is not None
    assert [(ln.item_id, ln.quantity_before, ln.quantity_after) for ln in record.lines] == [
        (11, 2, 1),
        (12, 1, 0),
        (13, 0, 2),
    ]
    assert record.discounts is not None
    assert record.discounts[0].item_id == 13  # index 1 after the change: the added tea


def test_an_order_keeps_a_bounded_number_of_item_changes() -> None:
    with pytest.raises(Rejected) as refused:
        cancel_items(PAID, ITEMS, cancel((11, 1)), made=limits.MAX_ITEM_CHANGES)
    assert fields(refused) == [("input",)]
