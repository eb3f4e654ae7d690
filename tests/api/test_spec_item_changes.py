"""Issue 15: changing an order after it is placed, through the API as clients call it."""

from __future__ import annotations

from typing import Any

import pytest

from order_graph.api import ids
from tests.api.conftest import GET_ORDER, CreateOrder, Transition
from tests.api.items_support import (
    cancel_items,
    change_items,
    check_identities,
    event_types,
)
from tests.api.test_spec_support import find_error
from tests.conftest import GraphQLClient

COUPON = {"kind": "COUPON", "code": "WELCOME5", "amount": "5.00", "fundedBy": "MERCHANT"}


def money(value: str) -> dict[str, str]:
    return {"amount": value, "currency": "CNY"}


async def paid_order(create_order: CreateOrder, transition: Transition) -> dict[str, Any]:
    """2 lattes at 28.00 and a bagel at 18.50, a 5.00 coupon, 2.00 packaging: 71.50, paid."""
    created = await create_order(discounts=[COUPON], packagingFee="2.00")
    paid = await transition(created["order"]["id"], "PAID", expectedVersion=1)
    assert paid["errors"] == []
    order: dict[str, Any] = paid["order"]
    assert order["payableTotal"] == money("71.50")
    return order


async def read(gql: GraphQLClient, order_id: str) -> dict[str, Any]:
    order: dict[str, Any] = (await gql.execute(GET_ORDER, {"id": order_id}))["order"]
    return order


# --- changeItems: before payment ------------------------------------------------------------


async def test_change_items_adds_recounts_and_removes_lines_with_new_discounts(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    order = (await create_order(discounts=[COUPON], packagingFee="2.00"))["order"]
    latte, bagel = (item["id"] for item in order["items"])

    payload = await change_items(
        gql,
        orderId=order["id"],
        expectedVersion=1,
        add=[{"skuId": "tea", "name": "Tea", "quantity": 2, "unitPrice": "12.00"}],
        quantities=[{"itemId": latte, "quantity": 1}, {"itemId": bagel, "quantity": 0}],
        discounts=[{"kind": "PROMOTION", "amount": "3.00", "itemIndex": 1}],
        reason="Customer called",
        expectedPayableTotal="51.00",
    )

    assert payload["errors"] == []
    changed = payload["order"]
    assert changed["version"] == 2
    assert [(i["skuId"], i["quantity"]) for i in changed["items"]] == [("latte", 1), ("tea", 2)]
    assert changed["itemsTotal"] == money("52.00")
    assert changed["discountTotal"] == money("3.00")
    assert changed["payableTotal"] == money("51.00")
    tea = changed["items"][1]["id"]
    assert [(d["kind"], d["itemId"]) for d in changed["discounts"]] == [("PROMOTION", tea)]
    [record] = changed["changes"]
    assert payload["change"] == {"kind": "ITEMS_CHANGED", "version": 2}
    assert record["kind"] == "ITEMS_CHANGED"
    assert (record["version"], record["reason"], record["actor"]) == (
        2,
        "Customer called",
        "test-suite",
    )
    assert [
        (line["itemId"], line["quantityBefore"], line["quantityAfter"]) for line in record["lines"]
    ] == [(latte, 2, 1), (bagel, 1, 0), (tea, 0, 2)]
    assert record["discounts"] == [
        {
            "kind": "PROMOTION",
            "code": None,
            "description": None,
            "amount": money("3.00"),
            "itemId": tea,
            "fundedBy": None,
        }
    ]
    assert record["refundAmount"] is None
    check_identities(changed)
    assert await read(gql, order["id"]) == changed
    assert [e["type"] for e in await event_types(gql, order["id"])] == ["CREATED", "ITEMS_CHANGED"]


async def test_change_items_after_payment_is_an_invalid_transition(
    gql: GraphQLClient, create_order: CreateOrder, transition: Transition
) -> None:
    order = await paid_order(create_order, transition)
    payload = await change_items(
        gql,
        orderId=order["id"],
        quantities=[{"itemId": order["items"][0]["id"], "quantity": 1}],
        discounts=[],
    )
    [error] = payload["errors"]
    assert error["code"] == "INVALID_TRANSITION"
    assert "cancelItems" in error["message"]
    assert error["allowedTransitions"] == ["ACCEPTED", "CANCELLED"]
    assert (await read(gql, order["id"]))["version"] == 2


async def test_change_items_that_changes_no_line_is_refused(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    order = (await create_order())["order"]
    latte = order["items"][0]["id"]
    payload = await change_items(
        gql, orderId=order["id"], quantities=[{"itemId": latte, "quantity": 2}], discounts=[]
    )
    find_error(payload, "VALIDATION", ["input", "quantities"])


async def test_change_items_cannot_remove_every_line(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    order = (await create_order())["order"]
    zero = [{"itemId": item["id"], "quantity": 0} for item in order["items"]]
    payload = await change_items(gql, orderId=order["id"], quantities=zero, discounts=[])
    error = find_error(payload, "VALIDATION", ["input", "quantities"])
    assert "cancel the order" in error["message"]


# --- cancelItems: after payment -------------------------------------------------------------


async def test_cancel_items_keeps_what_was_ordered_and_refunds_the_callers_amount(
    gql: GraphQLClient, create_order: CreateOrder, transition: Transition
) -> None:
    order = await paid_order(create_order, transition)
    bagel = order["items"][1]["id"]

    payload = await cancel_items(
        gql,
        orderId=order["id"],
        expectedVersion=2,
        lines=[{"itemId": bagel, "quantity": 1}],
        reason="Out of stock",
        refundAmount="17.25",
    )

    assert payload["errors"] == []
    cancelled = payload["order"]
    assert (cancelled["version"], cancelled["mainStatus"]) == (3, "PAID")
    line = cancelled["items"][1]
    assert (line["quantity"], line["cancelledQuantity"], line["activeQuantity"]) == (1, 1, 0)
    assert line["lineTotal"] == money("18.50")
    assert cancelled["itemsTotal"] == money("74.50")
    assert cancelled["discountTotal"] == money("5.00")
    assert cancelled["refundedTotal"] == money("17.25")
    assert cancelled["payableTotal"] == money("54.25")
    assert cancelled["discounts"] == order["discounts"]
    [record] = cancelled["changes"]
    assert record["kind"] == "ITEMS_CANCELLED"
    assert record["reason"] == "Out of stock"
    assert record["refundAmount"] == money("17.25")
    assert record["discounts"] is None
    assert record["lines"] == [
        {
            "itemId": bagel,
            "skuId": "bagel",
            "name": "Bagel",
            "unitPrice": money("18.50"),
            "quantityBefore": 1,
            "quantityAfter": 1,
            "cancelledQuantity": 1,
        }
    ]
    assert [h["version"] for h in cancelled["statusHistory"]] == [1, 2]
    check_identities(cancelled)


async def test_cancelling_every_remaining_unit_cancels_the_order_in_the_same_change(
    gql: GraphQLClient, create_order: CreateOrder, transition: Transition
) -> None:
    order = await paid_order(create_order, transition)
    latte, bagel = (item["id"] for item in order["items"])
    first = await cancel_items(
        gql,
        orderId=order["id"],
        lines=[{"itemId": latte, "quantity": 1}],
        reason="Spilled",
        refundAmount="26.00",
    )
    assert first["order"]["mainStatus"] == "PAID"

    last = await cancel_items(
        gql,
        orderId=order["id"],
        expectedVersion=3,
        lines=[{"itemId": latte, "quantity": 1}, {"itemId": bagel, "quantity": 1}],
        reason="Store closing",
        refundAmount="45.50",
    )

    cancelled = last["order"]
    assert (cancelled["version"], cancelled["mainStatus"]) == (4, "CANCELLED")
    assert cancelled["allowedTransitions"] == []
    assert cancelled["payableTotal"] == money("0.00")
    history = cancelled["statusHistory"][-1]
    assert (history["fromMainStatus"], history["toMainStatus"]) == ("PAID", "CANCELLED")
    assert (history["version"], history["reason"]) == (4, "Store closing")
    events = await event_types(gql, order["id"])
    assert events[-1] == {
        "type": "ITEMS_CHANGED",
        "version": 4,
        "mainStatus": "CANCELLED",
        "previousMainStatus": "PAID",
    }
    assert len(events) == 4  # created, paid, and one event per cancellation
    check_identities(cancelled)


async def test_cancel_items_works_in_accepted_and_keeps_the_sub_status(
    gql: GraphQLClient, create_order: CreateOrder, transition: Transition
) -> None:
    order = await paid_order(create_order, transition)
    accepted = await transition(order["id"], "ACCEPTED")
    payload = await cancel_items(
        gql,
        orderId=order["id"],
        lines=[{"itemId": order["items"][0]["id"], "quantity": 1}],
        reason="Out of milk",
        refundAmount="28.00",
    )
    assert payload["errors"] == []
    assert payload["order"]["mainStatus"] == "ACCEPTED"
    assert payload["order"]["version"] == accepted["order"]["version"] + 1


@pytest.mark.parametrize(
    ("path", "hint"),
    [([], "changeItems"), (["PAID", "ACCEPTED", "FULFILLING"], "transitionOrder"),
     (["CANCELLED"], "transitionOrder")],
)  # fmt: skip
async def test_cancel_items_outside_paid_and_accepted_is_an_invalid_transition(
    gql: GraphQLClient,
    create_order: CreateOrder,
    transition: Transition,
    path: list[str],
    hint: str,
) -> None:
    order = (await create_order())["order"]
    for status in path:
        await transition(order["id"], status)
    payload = await cancel_items(
        gql,
        orderId=order["id"],
        lines=[{"itemId": order["items"][0]["id"], "quantity": 1}],
        reason="Too late",
        refundAmount="0",
    )
    [error] = payload["errors"]
    assert error["code"] == "INVALID_TRANSITION"
    assert hint in error["message"]
    assert (await read(gql, order["id"]))["changes"] == []


async def test_every_problem_is_reported_at_once_with_its_field_and_nothing_changes(
    gql: GraphQLClient, create_order: CreateOrder, transition: Transition
) -> None:
    order = await paid_order(create_order, transition)
    latte = order["items"][0]["id"]
    foreign = ids.encode("OrderItem", 10**12)

    payload = await cancel_items(
        gql,
        orderId=order["id"],
        expectedVersion=1,
        lines=[
            {"itemId": latte, "quantity": 3},
            {"itemId": foreign, "quantity": 1},
            {"itemId": "not-an-id", "quantity": 1},
        ],
        reason="Out of stock",
        refundAmount="71.505",
    )

    fields = {tuple(e["field"]): e["code"] for e in payload["errors"]}
    assert fields == {
        ("input", "expectedVersion"): "VERSION_CONFLICT",
        ("input", "lines", "0", "quantity"): "VALIDATION",
        ("input", "lines", "1", "itemId"): "VALIDATION",
        ("input", "lines", "2", "itemId"): "VALIDATION",
        ("input", "refundAmount"): "VALIDATION",
    }
    assert payload["errors"][0]["currentVersion"] == 2
    assert payload["order"]["version"] == 2  # the current order, as with any conflict
    too_much = await cancel_items(
        gql,
        orderId=order["id"],
        lines=[{"itemId": latte, "quantity": 1}],
        reason=" ",
        refundAmount="71.51",
    )
    assert {tuple(e["field"]) for e in too_much["errors"]} == {
        ("input", "reason"),
        ("input", "refundAmount"),
    }
    assert "71.50" in find_error(too_much, "VALIDATION", ["input", "refundAmount"])["message"]
    assert await read(gql, order["id"]) == order | {"version": 2}


async def test_refunds_never_exceed_what_was_paid_over_several_cancellations(
    gql: GraphQLClient, create_order: CreateOrder, transition: Transition
) -> None:
    order = await paid_order(create_order, transition)
    latte = order["items"][0]["id"]
    first = await cancel_items(
        gql,
        orderId=order["id"],
        lines=[{"itemId": latte, "quantity": 1}],
        reason="Goodwill",
        refundAmount="70.00",
    )
    assert first["errors"] == []
    second = await cancel_items(
        gql,
        orderId=order["id"],
        lines=[{"itemId": latte, "quantity": 1}],
        reason="Goodwill",
        refundAmount="1.51",
    )
    error = find_error(second, "VALIDATION", ["input", "refundAmount"])
    assert "1.50" in error["message"]


async def test_re_allocated_discounts_keep_their_total(
    gql: GraphQLClient, create_order: CreateOrder, transition: Transition
) -> None:
    order = await paid_order(create_order, transition)
    latte, bagel = (item["id"] for item in order["items"])
    moved = [
        {"kind": "COUPON", "code": "WELCOME5", "amount": "3.75", "itemIndex": 0},
        {"kind": "COUPON", "code": "WELCOME5", "amount": "1.25", "itemIndex": 1},
    ]
    lines = [{"itemId": bagel, "quantity": 1}]
    changed: dict[str, Any] = {"reason": "Out of stock", "refundAmount": "17.25", "lines": lines}

    wrong = await cancel_items(gql, orderId=order["id"], discounts=moved[:1], **changed)
    assert "5.00" in find_error(wrong, "VALIDATION", ["input", "discounts"])["message"]

    payload = await cancel_items(gql, orderId=order["id"], discounts=moved, **changed)
    assert payload["errors"] == []
    result = payload["order"]
    assert [(d["amount"], d["itemId"]) for d in result["discounts"]] == [
        (money("3.75"), latte),
        (money("1.25"), bagel),
    ]
    assert result["discountTotal"] == money("5.00")
    assert [d["amount"] for d in result["changes"][0]["discounts"]] == [
        money("3.75"),
        money("1.25"),
    ]
    check_identities(result)


async def test_expected_payable_total_must_match_the_total_after_the_change(
    gql: GraphQLClient, create_order: CreateOrder, transition: Transition
) -> None:
    order = await paid_order(create_order, transition)
    payload = await cancel_items(
        gql,
        orderId=order["id"],
        lines=[{"itemId": order["items"][1]["id"], "quantity": 1}],
        reason="Out of stock",
        refundAmount="18.50",
        expectedPayableTotal="71.50",
    )
    error = find_error(payload, "VALIDATION", ["input", "expectedPayableTotal"])
    assert "53.00" in error["message"]


# --- Dry runs ------------------------------------------------------------------------------


async def test_a_dry_run_answers_with_the_order_as_it_would_be_and_changes_nothing(
    gql: GraphQLClient, create_order: CreateOrder, transition: Transition
) -> None:
    order = await paid_order(create_order, transition)
    latte, bagel = (item["id"] for item in order["items"])
    lines = [{"itemId": latte, "quantity": 2}, {"itemId": bagel, "quantity": 1}]
    cancel: dict[str, Any] = {
        "orderId": order["id"],
        "expectedVersion": 2,
        "lines": lines,
        "reason": "Closing",
        "refundAmount": "71.50",
    }

    preview = await cancel_items(gql, dry=True, key="cancel-1", **cancel)

    assert preview["errors"] == []
    assert preview["dryRun"] is True
    would = preview["order"]
    assert (would["version"], would["mainStatus"]) == (3, "CANCELLED")
    assert would["payableTotal"] == money("0.00")
    assert [i["activeQuantity"] for i in would["items"]] == [0, 0]
    assert [c["version"] for c in would["changes"]] == [3]
    assert would["statusHistory"][-1]["toMainStatus"] == "CANCELLED"
    assert preview["change"] == {"kind": "ITEMS_CANCELLED", "version": 3}
    check_identities(would)
    assert await read(gql, order["id"]) == order
    assert [e["type"] for e in await event_types(gql, order["id"])] == ["CREATED", "STATUS_CHANGED"]

    # The same key then makes the change for real: the dry run remembered nothing.
    done = await cancel_items(gql, key="cancel-1", **cancel)
    assert done["dryRun"] is False
    real = done["order"]
    for field in ("version", "mainStatus", "items", "payableTotal", "refundedTotal"):
        assert real[field] == would[field]


async def test_a_dry_run_reports_the_errors_a_real_run_would(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    order = (await create_order())["order"]
    payload = await change_items(
        gql,
        dry=True,
        orderId=order["id"],
        add=[{"skuId": "tea", "name": "Tea", "quantity": 1, "unitPrice": "1.001"}],
        discounts=[{"kind": "COUPON", "amount": "999.00"}],
    )
    assert payload["dryRun"] is True
    assert {tuple(e["field"]) for e in payload["errors"]} == {
        ("input", "add", "0", "unitPrice"),
        ("input", "discounts"),
    }


async def test_a_dry_run_shows_added_lines(gql: GraphQLClient, create_order: CreateOrder) -> None:
    order = (await create_order())["order"]
    add = [{"skuId": "tea", "name": "Tea", "quantity": 3, "unitPrice": "12.00"}]
    payload = await change_items(gql, dry=True, orderId=order["id"], add=add, discounts=[])
    assert [i["skuId"] for i in payload["order"]["items"]] == ["latte", "bagel", "tea"]
    assert payload["order"]["payableTotal"] == money("110.50")
    after = await read(gql, order["id"])
    assert [i["skuId"] for i in after["items"]] == ["latte", "bagel"]
    assert after["version"] == 1


# --- Idempotency ---------------------------------------------------------------------------


async def test_a_retried_cancellation_cancels_once_and_returns_the_first_result(
    gql: GraphQLClient, create_order: CreateOrder, transition: Transition
) -> None:
    order = await paid_order(create_order, transition)
    cancel: dict[str, Any] = {
        "orderId": order["id"],
        "lines": [{"itemId": order["items"][0]["id"], "quantity": 1}],
        "reason": "Out of stock",
        "refundAmount": "26.00",
    }
    first = await cancel_items(gql, key="oos-1", **cancel)
    again = await cancel_items(gql, key="oos-1", **cancel)
    assert again["order"]["version"] == first["order"]["version"] == 3
    assert again["change"] == first["change"]
    assert (await read(gql, order["id"]))["items"][0]["cancelledQuantity"] == 1

    other = await cancel_items(gql, key="oos-1", **(cancel | {"refundAmount": "1.00"}))
    find_error(other, "IDEMPOTENCY_KEY_REUSED", ["idempotencyKey"])
