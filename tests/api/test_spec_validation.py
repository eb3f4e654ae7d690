"""Issue 2, "Money and validation": every refused createOrder names the offending field and
stores nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import CreateOrder
from tests.api.test_spec_support import find_error, store_order_ids
from tests.conftest import GraphQLClient

BIG = 100_000  # characters: well past "a few KB"


def items(count: int) -> list[dict[str, Any]]:
    return [
        {"skuId": f"sku-{n}", "name": f"Item {n}", "quantity": 1, "unitPrice": "1.00"}
        for n in range(count)
    ]


def with_item(index: int, **fields: Any) -> list[dict[str, Any]]:
    """The default two items with one of them changed."""
    base = [
        {"skuId": "latte", "name": "Latte", "quantity": 2, "unitPrice": "28.00"},
        {"skuId": "bagel", "name": "Bagel", "quantity": 1, "unitPrice": "18.50"},
    ]
    base[index].update(fields)
    return base


REJECTED: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "negative_unit_price",
        {"items": with_item(0, unitPrice="-1.00")},
        ["items", "0", "unitPrice"],
    ),
    ("negative_delivery_fee", {"deliveryFee": "-0.01"}, ["deliveryFee"]),
    ("negative_packaging_fee", {"packagingFee": "-2.00"}, ["packagingFee"]),
    (
        "negative_discount",
        {"discounts": [{"kind": "COUPON", "amount": "-5.00"}]},
        ["discounts", "0", "amount"],
    ),
    ("zero_quantity", {"items": with_item(1, quantity=0)}, ["items", "1", "quantity"]),
    ("negative_quantity", {"items": with_item(0, quantity=-3)}, ["items", "0", "quantity"]),
    ("no_items", {"items": []}, ["items"]),
    (
        "item_index_past_the_end",
        {"discounts": [{"kind": "COUPON", "amount": "1.00", "itemIndex": 2}]},
        ["discounts", "0", "itemIndex"],
    ),
    (
        "negative_item_index",
        {
            "discounts": [
                {"kind": "COUPON", "amount": "1.00"},
                {"kind": "COUPON", "amount": "1.00", "itemIndex": -1},
            ]
        },
        ["discounts", "1", "itemIndex"],
    ),
    (
        "expected_payable_total_mismatch",
        {"expectedPayableTotal": "74.49"},
        ["expectedPayableTotal"],
    ),
    ("501_items", {"items": items(501)}, ["items"]),
    ("order_attributes_over_64kb", {"attributes": {"blob": "x" * 70_000}}, ["attributes"]),
    (
        "item_attributes_over_64kb",
        {"items": with_item(0, attributes={"blob": "x" * 70_000})},
        ["items", "0", "attributes"],
    ),
    ("huge_remark", {"remark": "r" * BIG}, ["remark"]),
    ("huge_item_name", {"items": with_item(0, name="n" * BIG)}, ["items", "0", "name"]),
    ("huge_store_id", {"storeId": "s" * BIG}, ["storeId"]),
    ("huge_customer_id", {"customerId": "c" * BIG}, ["customerId"]),
    (
        "huge_discount_description",
        {"discounts": [{"kind": "COUPON", "amount": "1.00", "description": "d" * BIG}]},
        ["discounts", "0", "description"],
    ),
    (
        "huge_external_order_id",
        {"externalRef": {"platform": "meituan", "orderId": "e" * BIG}},
        ["externalRef", "orderId"],
    ),
    ("initial_status_accepted", {"initialStatus": "ACCEPTED"}, ["initialStatus"]),
    ("initial_status_fulfilling", {"initialStatus": "FULFILLING"}, ["initialStatus"]),
    ("initial_status_completed", {"initialStatus": "COMPLETED"}, ["initialStatus"]),
    ("initial_status_cancelled", {"initialStatus": "CANCELLED"}, ["initialStatus"]),
]


@pytest.mark.parametrize(
    ("overrides", "field"), [(o, f) for _, o, f in REJECTED], ids=[n for n, _, _ in REJECTED]
)
async def test_invalid_create_is_refused_with_its_field_path_and_stores_nothing(
    gql: GraphQLClient,
    store_id: str,
    create_order: CreateOrder,
    overrides: dict[str, Any],
    field: list[str],
) -> None:
    overrides = {"storeId": store_id, **overrides}
    payload = await create_order(**overrides)
    assert payload["order"] is None
    assert payload["created"] is False
    error = find_error(payload, "VALIDATION", ["input", *field])
    assert error["message"]
    assert await store_order_ids(gql, store_id) == []


@pytest.mark.parametrize(
    "discounts",
    [
        [{"kind": "COUPON", "amount": "80.00"}],
        [{"kind": "COUPON", "amount": "50.00"}, {"kind": "MEMBERSHIP", "amount": "24.51"}],
    ],
    ids=["one_discount", "two_discounts"],
)
async def test_discounts_larger_than_the_payable_amount_are_refused(
    gql: GraphQLClient, store_id: str, create_order: CreateOrder, discounts: list[dict[str, Any]]
) -> None:
    payload = await create_order(discounts=discounts)
    assert payload["order"] is None
    matches = [
        e
        for e in payload["errors"]
        if e["code"] == "VALIDATION" and (e["field"] or [])[:2] == ["input", "discounts"]
    ]
    assert matches, payload["errors"]
    assert await store_order_ids(gql, store_id) == []


async def test_item_discount_larger_than_its_line_is_refused(
    gql: GraphQLClient, store_id: str, create_order: CreateOrder
) -> None:
    # The bagel line is 18.50; the order as a whole could absorb 20.00, the item cannot.
    payload = await create_order(
        discounts=[{"kind": "PROMOTION", "amount": "20.00", "itemIndex": 1}]
    )
    assert payload["order"] is None
    matches = [
        e
        for e in payload["errors"]
        if e["code"] == "VALIDATION" and (e["field"] or [])[:2] == ["input", "discounts"]
    ]
    assert matches, payload["errors"]
    assert await store_order_ids(gql, store_id) == []


async def test_500_items_are_accepted(create_order: CreateOrder) -> None:
    payload = await create_order(items=items(500))
    assert payload["errors"] == []
    assert len(payload["order"]["items"]) == 500
    assert payload["order"]["itemsTotal"]["amount"] == "500.00"


async def test_attributes_just_under_64kb_are_accepted_and_returned_intact(
    create_order: CreateOrder,
) -> None:
    attributes = {"blob": "x" * 60_000, "nested": {"table": 12, "tags": ["a", "b"]}}
    payload = await create_order(attributes=attributes)
    assert payload["errors"] == []
    assert payload["order"]["attributes"] == attributes


async def test_item_attributes_are_stored_as_given(create_order: CreateOrder) -> None:
    attributes = {"size": "L", "sugar": 0.5, "extras": ["oat milk"], "hot": True}
    order = (await create_order(items=with_item(0, attributes=attributes)))["order"]
    assert order["items"][0]["attributes"] == attributes
    assert order["items"][1]["attributes"] == {}


async def test_a_refused_create_with_an_idempotency_key_stores_nothing(
    gql: GraphQLClient, store_id: str, create_order: CreateOrder
) -> None:
    payload = await create_order(key=f"bad-input-{store_id}", items=[])
    assert payload["order"] is None
    find_error(payload, "VALIDATION", ["input", "items"])
    assert await store_order_ids(gql, store_id) == []
