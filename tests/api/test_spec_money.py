"""Issue 2, "Money and validation": exact amounts per currency, and how the totals add up."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import CREATE, GET_ORDER, CreateOrder, order_input
from tests.api.test_spec_support import find_error, store_order_ids
from tests.conftest import GraphQLClient


def item(price: str, quantity: int = 1, sku: str = "sku") -> dict[str, Any]:
    return {"skuId": sku, "name": sku.title(), "quantity": quantity, "unitPrice": price}


def money(amount: str, currency: str = "CNY") -> dict[str, str]:
    return {"amount": amount, "currency": currency}


async def test_cny_amounts_add_up_exactly_without_float_drift(create_order: CreateOrder) -> None:
    payload = await create_order(
        items=[item("0.10", 3, "tea"), item("0.20", 1, "ice")], deliveryFee="0.10"
    )
    order = payload["order"]
    assert payload["errors"] == []
    assert [i["lineTotal"] for i in order["items"]] == [money("0.30"), money("0.20")]
    assert order["itemsTotal"] == money("0.50")
    assert order["payableTotal"] == money("0.60")


async def test_whole_cny_price_is_reported_with_two_decimals(create_order: CreateOrder) -> None:
    order = (await create_order(items=[item("28", 2)]))["order"]
    assert order["items"][0]["unitPrice"] == money("28.00")
    assert order["items"][0]["lineTotal"] == money("56.00")
    assert order["payableTotal"] == money("56.00")


async def test_large_cny_amounts_stay_exact(create_order: CreateOrder) -> None:
    order = (await create_order(items=[item("99999999.99", 1000)]))["order"]
    assert order["items"][0]["lineTotal"] == money("99999999990.00")
    assert order["payableTotal"] == money("99999999990.00")


async def test_usd_allows_two_decimals(create_order: CreateOrder) -> None:
    order = (await create_order(currency="USD", items=[item("19.99", 3)]))["order"]
    assert order["currency"] == "USD"
    assert order["payableTotal"] == money("59.97", "USD")


@pytest.mark.parametrize("currency", ["JPY", "KRW"])
async def test_zero_decimal_currency_amounts_have_no_fraction(
    create_order: CreateOrder, currency: str
) -> None:
    payload = await create_order(
        currency=currency, items=[item("1200", 2)], deliveryFee="300", packagingFee="50"
    )
    order = payload["order"]
    assert payload["errors"] == []
    assert order["items"][0]["unitPrice"] == money("1200", currency)
    assert order["items"][0]["lineTotal"] == money("2400", currency)
    assert order["deliveryFee"] == money("300", currency)
    assert order["discountTotal"] == money("0", currency)
    assert order["payableTotal"] == money("2750", currency)


@pytest.mark.parametrize("currency", ["JPY", "KRW"])
async def test_zero_decimal_currency_rejects_a_fraction(
    gql: GraphQLClient, store_id: str, create_order: CreateOrder, currency: str
) -> None:
    payload = await create_order(currency=currency, items=[item("1200.5")])
    assert payload["order"] is None
    find_error(payload, "VALIDATION", ["input", "items", "0", "unitPrice"])
    assert await store_order_ids(gql, store_id) == []


async def test_kwd_amounts_keep_three_decimals(create_order: CreateOrder) -> None:
    order = (await create_order(currency="KWD", items=[item("1.234", 2)], packagingFee="0.125"))[
        "order"
    ]
    assert order["items"][0]["unitPrice"] == money("1.234", "KWD")
    assert order["items"][0]["lineTotal"] == money("2.468", "KWD")
    assert order["packagingFee"] == money("0.125", "KWD")
    assert order["payableTotal"] == money("2.593", "KWD")


async def test_kwd_rejects_a_fourth_decimal(
    gql: GraphQLClient, store_id: str, create_order: CreateOrder
) -> None:
    payload = await create_order(currency="KWD", items=[item("1.2345")])
    assert payload["order"] is None
    find_error(payload, "VALIDATION", ["input", "items", "0", "unitPrice"])
    assert await store_order_ids(gql, store_id) == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"items": [item("1.005")]}, ["input", "items", "0", "unitPrice"]),
        ({"deliveryFee": "1.005"}, ["input", "deliveryFee"]),
        ({"packagingFee": "0.001"}, ["input", "packagingFee"]),
        (
            {"discounts": [{"kind": "COUPON", "amount": "0.001"}]},
            ["input", "discounts", "0", "amount"],
        ),
        ({"expectedPayableTotal": "74.501"}, ["input", "expectedPayableTotal"]),
    ],
    ids=["unitPrice", "deliveryFee", "packagingFee", "discount", "expectedPayableTotal"],
)
async def test_cny_amount_with_three_decimals_is_rejected_at_its_field(
    gql: GraphQLClient,
    store_id: str,
    create_order: CreateOrder,
    overrides: dict[str, Any],
    field: list[str],
) -> None:
    payload = await create_order(**overrides)
    assert payload["order"] is None
    assert payload["created"] is False
    find_error(payload, "VALIDATION", field)
    assert await store_order_ids(gql, store_id) == []


@pytest.mark.parametrize("currency", ["XYZ", "ABC", "EURO", ""])
async def test_unknown_currency_is_rejected(
    gql: GraphQLClient, store_id: str, create_order: CreateOrder, currency: str
) -> None:
    payload = await create_order(currency=currency)
    assert payload["order"] is None
    find_error(payload, "VALIDATION", ["input", "currency"])
    assert await store_order_ids(gql, store_id) == []


async def test_every_money_field_carries_the_order_currency(create_order: CreateOrder) -> None:
    order = (
        await create_order(
            currency="USD",
            deliveryFee="1.00",
            discounts=[{"kind": "COUPON", "amount": "2.00", "itemIndex": 0}],
        )
    )["order"]
    amounts = [
        order["itemsTotal"],
        order["discountTotal"],
        order["deliveryFee"],
        order["packagingFee"],
        order["payableTotal"],
        *(i["unitPrice"] for i in order["items"]),
        *(i["lineTotal"] for i in order["items"]),
        *(d["amount"] for d in order["discounts"]),
    ]
    assert {m["currency"] for m in amounts} == {"USD"}


async def test_line_total_is_unit_price_times_quantity(create_order: CreateOrder) -> None:
    order = (
        await create_order(items=[item("12.35", 7, "a"), item("0.01", 999, "b"), item("5", 1)])
    )["order"]
    assert [i["quantity"] for i in order["items"]] == [7, 999, 1]
    assert [i["lineTotal"]["amount"] for i in order["items"]] == ["86.45", "9.99", "5.00"]
    assert order["itemsTotal"] == money("101.44")


async def test_payable_total_is_items_plus_fees_minus_discounts(
    create_order: CreateOrder,
) -> None:
    payload = await create_order(
        deliveryFee="5.00",
        packagingFee="2.00",
        discounts=[
            {"kind": "COUPON", "code": "WELCOME10", "amount": "10.00", "fundedBy": "MERCHANT"},
            {"kind": "PROMOTION", "description": "latte deal", "amount": "3.00", "itemIndex": 0},
        ],
    )
    order = payload["order"]
    assert payload["errors"] == []
    assert order["itemsTotal"] == money("74.50")
    assert order["deliveryFee"] == money("5.00")
    assert order["packagingFee"] == money("2.00")
    assert order["discountTotal"] == money("13.00")
    assert order["payableTotal"] == money("68.50")


async def test_discounts_are_stored_as_given_and_item_level_ones_point_at_their_item(
    create_order: CreateOrder,
) -> None:
    order = (
        await create_order(
            discounts=[
                {"kind": "COUPON", "code": "WELCOME10", "amount": "10.00", "fundedBy": "MERCHANT"},
                {"kind": "PLATFORM", "description": "bagel", "amount": "1.50", "itemIndex": 1},
            ]
        )
    )["order"]
    order_level, item_level = order["discounts"]
    assert order_level["kind"] == "COUPON"
    assert order_level["code"] == "WELCOME10"
    assert order_level["fundedBy"] == "MERCHANT"
    assert order_level["amount"] == money("10.00")
    assert order_level["itemId"] is None
    assert item_level["kind"] == "PLATFORM"
    assert item_level["description"] == "bagel"
    assert item_level["itemId"] == order["items"][1]["id"]
    assert order["discountTotal"] == money("11.50")


async def test_fees_and_discounts_default_to_zero(create_order: CreateOrder) -> None:
    order = (await create_order())["order"]
    assert order["deliveryFee"] == money("0.00")
    assert order["packagingFee"] == money("0.00")
    assert order["discountTotal"] == money("0.00")
    assert order["discounts"] == []
    assert order["payableTotal"] == order["itemsTotal"] == money("74.50")


async def test_discounts_equal_to_the_payable_amount_make_a_free_order(
    create_order: CreateOrder,
) -> None:
    payload = await create_order(
        deliveryFee="5.50", discounts=[{"kind": "MANUAL", "amount": "80.00"}]
    )
    assert payload["errors"] == []
    assert payload["order"]["payableTotal"] == money("0.00")


async def test_matching_expected_payable_total_is_accepted(create_order: CreateOrder) -> None:
    payload = await create_order(deliveryFee="5.00", expectedPayableTotal="79.50")
    assert payload["errors"] == []
    assert payload["order"]["payableTotal"] == money("79.50")


async def test_expected_payable_total_written_with_fewer_decimals_still_matches(
    create_order: CreateOrder,
) -> None:
    payload = await create_order(items=[item("10", 2)], expectedPayableTotal="20")
    assert payload["errors"] == []
    assert payload["order"]["payableTotal"] == money("20.00")


async def test_amounts_read_back_equal_amounts_written(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    created = (await create_order(currency="KWD", items=[item("7.001", 3)]))["order"]
    read = (await gql.execute(GET_ORDER, {"id": created["id"]}))["order"]
    assert read["items"][0]["unitPrice"] == money("7.001", "KWD")
    assert read["payableTotal"] == created["payableTotal"] == money("21.003", "KWD")


@pytest.mark.parametrize("price", ["NaN", "Infinity", "-Infinity", "1e400"])
async def test_non_finite_or_absurd_price_is_a_validation_error(
    gql: GraphQLClient, store_id: str, create_order: CreateOrder, price: str
) -> None:
    payload = await create_order(items=[item(price)])
    assert payload["order"] is None
    find_error(payload, "VALIDATION", ["input", "items", "0", "unitPrice"])
    assert await store_order_ids(gql, store_id) == []


async def test_exponent_notation_is_an_exact_amount(create_order: CreateOrder) -> None:
    payload = await create_order(items=[item("1.5E+1", 2)])
    assert payload["errors"] == []
    assert payload["order"]["items"][0]["unitPrice"] == money("15.00")
    assert payload["order"]["payableTotal"] == money("30.00")


async def test_line_total_too_large_to_store_is_a_validation_error_not_a_crash(
    gql: GraphQLClient, store_id: str
) -> None:
    # Each value alone may be within its bound; their product is past any sane order total
    # (10^20 fen), and past what a 64-bit column of minor units holds.
    variables = {"input": order_input(store_id, items=[item("10000000000000.00", 100_000)])}
    body = await gql.raw(CREATE, variables)
    assert "errors" not in body, body
    payload = body["data"]["createOrder"]
    assert payload["order"] is None
    matches = [
        e
        for e in payload["errors"]
        if e["code"] == "VALIDATION" and (e["field"] or [])[:2] == ["input", "items"]
    ]
    assert matches, payload["errors"]
    assert await store_order_ids(gql, store_id) == []
