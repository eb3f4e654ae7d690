from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from order_graph.domain.errors import ErrorCode, Rejected
from order_graph.domain.lifecycle import KEEP, replace_discounts, update
from order_graph.domain.model import (
    Channel,
    CreateOrder,
    DiscountInput,
    DiscountKind,
    FulfillmentType,
    ItemInput,
    ItemRecord,
)
from order_graph.domain.status import MainStatus
from order_graph.domain.validation import validate_create
from tests.unit.builders import an_order

LATTE = ItemInput("latte", "Latte", 2, Decimal("28.00"))


def a_command(**changes: Any) -> CreateOrder:
    values: dict[str, Any] = {
        "store_id": "s1",
        "channel": Channel.APP,
        "fulfillment_type": FulfillmentType.DELIVERY,
        "currency": "CNY",
        "items": (LATTE,),
        **changes,
    }
    return CreateOrder(**values)


def fields(command: CreateOrder) -> list[tuple[str, ...] | None]:
    with pytest.raises(Rejected) as caught:
        validate_create(command, sub_status_known=True)
    return [error.field for error in caught.value.errors]


def test_totals_follow_the_documented_formula() -> None:
    draft = validate_create(
        a_command(
            delivery_fee=Decimal("6"),
            packaging_fee=Decimal("2.00"),
            discounts=(DiscountInput(DiscountKind.COUPON, Decimal("5.50")),),
            expected_payable_total=Decimal("58.50"),
        ),
        sub_status_known=True,
    )
    assert draft.totals.items_total == 5600
    assert draft.totals.payable_total == 5600 + 600 + 200 - 550


def test_every_problem_is_reported_with_its_path() -> None:
    bad_item = ItemInput("", "Latte", 0, Decimal("-1"))
    assert fields(a_command(items=(LATTE, bad_item), currency="CNY")) == [
        ("input", "items", "1", "skuId"),
        ("input", "items", "1", "quantity"),
        ("input", "items", "1", "unitPrice"),
    ]


def test_an_order_needs_items() -> None:
    assert fields(a_command(items=())) == [("input", "items")]


def test_unknown_currency_is_reported_once() -> None:
    assert fields(a_command(currency="XYZ", delivery_fee=Decimal("1.234"))) == [
        ("input", "currency")
    ]


def test_item_discount_cannot_exceed_its_line() -> None:
    discount = DiscountInput(DiscountKind.PROMOTION, Decimal("56.01"), item_index=0)
    assert ("input", "discounts", "0", "amount") in fields(a_command(discounts=(discount,)))


def test_discount_index_must_name_an_item() -> None:
    discount = DiscountInput(DiscountKind.PROMOTION, Decimal("1"), item_index=1)
    assert fields(a_command(discounts=(discount,))) == [("input", "discounts", "0", "itemIndex")]


def test_discounts_cannot_exceed_the_payable_amount() -> None:
    discount = DiscountInput(DiscountKind.COUPON, Decimal("56.01"))
    assert fields(a_command(discounts=(discount,))) == [("input", "discounts")]


def test_expected_payable_total_must_match() -> None:
    assert fields(a_command(expected_payable_total=Decimal("56.01"))) == [
        ("input", "expectedPayableTotal")
    ]


def test_orders_start_only_created_or_paid() -> None:
    assert fields(a_command(initial_status=MainStatus.ACCEPTED)) == [("input", "initialStatus")]


def test_attributes_are_a_bounded_object() -> None:
    assert fields(a_command(attributes=[1])) == [("input", "attributes")]
    assert fields(a_command(attributes={"blob": "x" * 70_000})) == [("input", "attributes")]


def test_more_than_500_items_are_refused() -> None:
    assert fields(a_command(items=(LATTE,) * 501)) == [("input", "items")]


def test_discounts_are_fixed_once_paid() -> None:
    with pytest.raises(Rejected) as caught:
        replace_discounts(an_order(main_status=MainStatus.PAID), [], [])
    assert caught.value.errors[0].code is ErrorCode.VALIDATION
    assert "paid amount is fixed" in caught.value.errors[0].message


def test_replacing_discounts_recomputes_the_payable_total() -> None:
    item = ItemRecord(1, 1, 0, "latte", "Latte", 2, 5000, 10_000, {})
    discount = DiscountInput(DiscountKind.COUPON, Decimal("10.00"), item_index=0)
    drafts, change = replace_discounts(an_order(), [item], [discount])
    assert drafts[0].amount == 1000
    assert change.values == {"discount_total": 1000, "payable_total": 9700}


def test_update_merges_attributes_and_removes_null_keys() -> None:
    change = update(an_order(attributes={"a": 1, "b": 2}), KEEP, {"b": None, "c": 3})
    assert change.values == {"attributes": {"a": 1, "c": 3}}


def test_update_that_changes_nothing_has_no_values() -> None:
    assert update(an_order(remark="x"), "x", None).values == {}
