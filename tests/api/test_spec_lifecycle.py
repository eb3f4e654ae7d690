"""Issue 2, "Lifecycle": the main-status table through the API, versions, history, conflicts,
replaceDiscounts and updateOrder."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import (
    CREATE,
    GET_ORDER,
    SET_SUB_STATUS,
    TRANSITION,
    CreateOrder,
    Transition,
    define_sub_status,
    order_input,
)
from tests.api.test_spec_support import (
    PATH_TO,
    REPLACE_DISCOUNTS,
    STATUSES,
    TABLE,
    UPDATE,
    find_error,
    missing_order_id,
    store_order_ids,
    unique_code,
)
from tests.conftest import GraphQLClient

ALLOWED = [(src, dst) for src in STATUSES for dst in TABLE[src]]
REFUSED = [(src, dst) for src in STATUSES for dst in STATUSES if dst not in TABLE[src]]


async def order_in(
    create_order: CreateOrder, transition: Transition, status: str
) -> dict[str, Any]:
    """A new order brought to `status` through the allowed moves."""
    order: dict[str, Any] = (await create_order())["order"]
    for step in PATH_TO[status]:
        payload = await transition(order["id"], step, expectedVersion=order["version"])
        assert payload["errors"] == [], payload
        order = payload["order"]
    assert order["mainStatus"] == status
    return order


async def get(gql: GraphQLClient, order_id: str) -> dict[str, Any]:
    order: dict[str, Any] = (await gql.execute(GET_ORDER, {"id": order_id}))["order"]
    return order


async def test_main_status_transitions_query_is_exactly_the_table(gql: GraphQLClient) -> None:
    data = await gql.execute("{ mainStatusTransitions { from to } }")
    table = {row["from"]: row["to"] for row in data["mainStatusTransitions"]}
    assert len(data["mainStatusTransitions"]) == len(table) == 6
    assert {src: sorted(dst) for src, dst in table.items()} == {
        src: sorted(dst) for src, dst in TABLE.items()
    }


@pytest.mark.parametrize("status", STATUSES)
async def test_order_allowed_transitions_follow_the_table(
    create_order: CreateOrder, transition: Transition, status: str
) -> None:
    order = await order_in(create_order, transition, status)
    assert sorted(order["allowedTransitions"]) == sorted(TABLE[status])


@pytest.mark.parametrize(("source", "target"), ALLOWED, ids=[f"{s}-to-{t}" for s, t in ALLOWED])
async def test_allowed_move_changes_status_and_records_history(
    gql: GraphQLClient,
    create_order: CreateOrder,
    transition: Transition,
    source: str,
    target: str,
) -> None:
    order = await order_in(create_order, transition, source)
    payload = await transition(order["id"], target, expectedVersion=order["version"], reason="ok")
    assert payload["errors"] == []
    moved = payload["order"]
    assert moved["mainStatus"] == target
    assert moved["version"] == order["version"] + 1
    assert sorted(moved["allowedTransitions"]) == sorted(TABLE[target])
    last = moved["statusHistory"][-1]
    assert (last["fromMainStatus"], last["toMainStatus"]) == (source, target)
    assert last["version"] == moved["version"]
    assert last["reason"] == "ok"
    assert (await get(gql, order["id"]))["mainStatus"] == target


@pytest.mark.parametrize(("source", "target"), REFUSED, ids=[f"{s}-to-{t}" for s, t in REFUSED])
async def test_move_outside_the_table_is_invalid_and_changes_nothing(
    gql: GraphQLClient,
    create_order: CreateOrder,
    transition: Transition,
    source: str,
    target: str,
) -> None:
    order = await order_in(create_order, transition, source)
    payload = await transition(order["id"], target, expectedVersion=order["version"])
    error = find_error(payload, "INVALID_TRANSITION")
    assert sorted(error["allowedTransitions"]) == sorted(TABLE[source])
    assert error["message"]
    after = await get(gql, order["id"])
    assert after["mainStatus"] == source
    assert after["version"] == order["version"]
    assert len(after["statusHistory"]) == len(order["statusHistory"])


async def test_cancelled_order_cannot_be_paid(
    create_order: CreateOrder, transition: Transition
) -> None:
    order = await order_in(create_order, transition, "CANCELLED")
    payload = await transition(order["id"], "PAID")
    assert payload["order"] is None
    assert find_error(payload, "INVALID_TRANSITION")["allowedTransitions"] == []


async def test_completed_order_cannot_be_cancelled(
    create_order: CreateOrder, transition: Transition
) -> None:
    order = await order_in(create_order, transition, "COMPLETED")
    payload = await transition(order["id"], "CANCELLED")
    assert payload["order"] is None
    assert find_error(payload, "INVALID_TRANSITION")["allowedTransitions"] == []


async def test_new_order_starts_created_at_version_one_with_one_history_entry(
    create_order: CreateOrder,
) -> None:
    payload = await create_order()
    order = payload["order"]
    assert payload["created"] is True
    assert order["mainStatus"] == "CREATED"
    assert order["subStatus"] is None
    assert order["version"] == 1
    [entry] = order["statusHistory"]
    assert entry["fromMainStatus"] is None
    assert entry["toMainStatus"] == "CREATED"
    assert entry["actor"] == "test-suite"
    assert entry["version"] == 1
    assert entry["occurredAt"]


async def test_order_may_be_created_already_paid(create_order: CreateOrder) -> None:
    payload = await create_order(initialStatus="PAID")
    order = payload["order"]
    assert payload["errors"] == []
    assert order["mainStatus"] == "PAID"
    assert order["version"] == 1
    assert sorted(order["allowedTransitions"]) == ["ACCEPTED", "CANCELLED"]
    assert [(e["fromMainStatus"], e["toMainStatus"]) for e in order["statusHistory"]] == [
        (None, "PAID")
    ]


async def test_order_may_be_created_explicitly_as_created(create_order: CreateOrder) -> None:
    payload = await create_order(initialStatus="CREATED")
    assert payload["errors"] == []
    assert payload["order"]["mainStatus"] == "CREATED"


@pytest.mark.parametrize("status", ["ACCEPTED", "FULFILLING", "COMPLETED", "CANCELLED"])
async def test_order_cannot_be_created_in_a_later_status(
    gql: GraphQLClient, store_id: str, create_order: CreateOrder, status: str
) -> None:
    payload = await create_order(initialStatus=status)
    assert payload["order"] is None
    find_error(payload, "VALIDATION", ["input", "initialStatus"])
    assert await store_order_ids(gql, store_id) == []


async def test_history_records_actor_reason_and_version_of_each_change(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    order = (await create_order())["order"]
    pos = gql.as_client("pos-terminal")
    kitchen = gql.as_client("kitchen-display")
    paid = await pos.execute(
        TRANSITION,
        {"input": {"orderId": order["id"], "to": "PAID", "reason": "paid at till"}},
    )
    assert paid["transitionOrder"]["errors"] == []
    accepted = await kitchen.execute(
        TRANSITION, {"input": {"orderId": order["id"], "to": "ACCEPTED"}}
    )
    history = accepted["transitionOrder"]["order"]["statusHistory"]
    assert [(e["toMainStatus"], e["actor"], e["reason"], e["version"]) for e in history] == [
        ("CREATED", "test-suite", None, 1),
        ("PAID", "pos-terminal", "paid at till", 2),
        ("ACCEPTED", "kitchen-display", None, 3),
    ]
    times = [e["occurredAt"] for e in history]
    assert all(times)
    assert (await get(gql, order["id"]))["statusHistory"] == history


async def test_actor_is_anonymous_without_a_client_id_header(gql: GraphQLClient) -> None:
    body = {"query": CREATE, "variables": {"input": order_input("store-anon")}}
    response = await gql.http.post("/graphql", json=body)
    assert response.status_code == 200, response.text
    order = response.json()["data"]["createOrder"]["order"]
    assert order["statusHistory"][0]["actor"] == "anonymous"


async def test_every_change_increments_version_by_exactly_one(
    gql: GraphQLClient, create_order: CreateOrder, transition: Transition
) -> None:
    code = unique_code("WAITING")
    await define_sub_status(gql, "CREATED", code)
    order = (await create_order())["order"]
    oid = order["id"]
    versions = [order["version"]]
    sub = await gql.execute(SET_SUB_STATUS, {"input": {"orderId": oid, "subStatus": code}})
    versions.append(sub["setSubStatus"]["order"]["version"])
    upd = await gql.execute(UPDATE, {"input": {"orderId": oid, "remark": "no onions"}})
    versions.append(upd["updateOrder"]["order"]["version"])
    rep = await gql.execute(
        REPLACE_DISCOUNTS,
        {"input": {"orderId": oid, "discounts": [{"kind": "COUPON", "amount": "1.00"}]}},
    )
    versions.append(rep["replaceDiscounts"]["order"]["version"])
    versions.append((await transition(oid, "PAID"))["order"]["version"])
    assert versions == [1, 2, 3, 4, 5]
    assert (await get(gql, oid))["version"] == 5


# --- VERSION_CONFLICT ----------------------------------------------------------------------


async def _call(
    gql: GraphQLClient, mutation: str, order_id: str, expected_version: int | None
) -> dict[str, Any]:
    """One call of `mutation` that would change the order if it went through."""
    base: dict[str, Any] = {"orderId": order_id, "expectedVersion": expected_version}
    if mutation == "transitionOrder":
        query, variables = TRANSITION, {"input": {**base, "to": "CANCELLED"}}
    elif mutation == "setSubStatus":
        query, variables = SET_SUB_STATUS, {"input": {**base, "subStatus": None}}
    elif mutation == "replaceDiscounts":
        query, variables = REPLACE_DISCOUNTS, {"input": {**base, "discounts": []}}
    else:
        query, variables = UPDATE, {"input": {**base, "remark": "late"}}
    payload: dict[str, Any] = (await gql.execute(query, variables))[mutation]
    return payload


async def _conflicting_call(gql: GraphQLClient, mutation: str, order_id: str) -> dict[str, Any]:
    return await _call(gql, mutation, order_id, 1)  # the order is at version 2 by then


MUTATIONS = ["transitionOrder", "setSubStatus", "replaceDiscounts", "updateOrder"]


async def _order_at_version_two(gql: GraphQLClient, create_order: CreateOrder) -> dict[str, Any]:
    order = (
        await create_order(
            remark="first", discounts=[{"kind": "COUPON", "amount": "2.00"}], attributes={"a": 1}
        )
    )["order"]
    updated = await gql.execute(
        UPDATE, {"input": {"orderId": order["id"], "remark": "second", "expectedVersion": 1}}
    )
    assert updated["updateOrder"]["errors"] == []
    return await get(gql, order["id"])


@pytest.mark.parametrize("mutation", MUTATIONS)
async def test_stale_expected_version_is_a_conflict_that_changes_nothing(
    gql: GraphQLClient, create_order: CreateOrder, mutation: str
) -> None:
    before = await _order_at_version_two(gql, create_order)
    payload = await _conflicting_call(gql, mutation, before["id"])
    error = find_error(payload, "VERSION_CONFLICT")
    assert error["currentVersion"] == 2
    assert await get(gql, before["id"]) == before


@pytest.mark.parametrize("mutation", MUTATIONS)
async def test_version_conflict_payload_carries_the_current_order(
    gql: GraphQLClient, create_order: CreateOrder, mutation: str
) -> None:
    before = await _order_at_version_two(gql, create_order)
    payload = await _conflicting_call(gql, mutation, before["id"])
    find_error(payload, "VERSION_CONFLICT")
    assert payload["order"] is not None, "issue 2: the current order comes with VERSION_CONFLICT"
    assert payload["order"]["id"] == before["id"]
    assert payload["order"]["version"] == 2


async def test_matching_expected_version_is_accepted(
    create_order: CreateOrder, transition: Transition
) -> None:
    order = (await create_order())["order"]
    payload = await transition(order["id"], "PAID", expectedVersion=1)
    assert payload["errors"] == []
    assert payload["order"]["version"] == 2


@pytest.mark.parametrize("mutation", MUTATIONS)
async def test_change_of_a_missing_order_is_not_found(
    gql: GraphQLClient, create_order: CreateOrder, mutation: str
) -> None:
    order = (await create_order())["order"]
    payload = await _call(gql, mutation, missing_order_id(order["id"]), None)
    assert payload["order"] is None
    find_error(payload, "NOT_FOUND")


@pytest.mark.parametrize("mutation", MUTATIONS)
async def test_change_addressed_with_an_item_id_touches_no_order(
    gql: GraphQLClient, create_order: CreateOrder, mutation: str
) -> None:
    order = (await create_order(remark="keep", discounts=[{"kind": "COUPON", "amount": "1"}]))[
        "order"
    ]
    payload = await _call(gql, mutation, order["items"][0]["id"], None)
    assert payload["order"] is None
    assert {e["code"] for e in payload["errors"]} <= {"NOT_FOUND", "VALIDATION"}
    assert payload["errors"]
    assert await get(gql, order["id"]) == order


# --- replaceDiscounts ------------------------------------------------------------------------


async def test_replace_discounts_on_a_created_order_recomputes_totals(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    order = (
        await create_order(deliveryFee="3.00", discounts=[{"kind": "COUPON", "amount": "5.00"}])
    )["order"]
    payload = (
        await gql.execute(
            REPLACE_DISCOUNTS,
            {
                "input": {
                    "orderId": order["id"],
                    "expectedVersion": 1,
                    "discounts": [
                        {"kind": "MEMBERSHIP", "amount": "7.50", "fundedBy": "MERCHANT"},
                        {"kind": "PROMOTION", "amount": "2.00", "itemIndex": 1},
                    ],
                }
            },
        )
    )["replaceDiscounts"]
    assert payload["errors"] == []
    replaced = payload["order"]
    assert replaced["version"] == 2
    assert [(d["kind"], d["amount"]["amount"]) for d in replaced["discounts"]] == [
        ("MEMBERSHIP", "7.50"),
        ("PROMOTION", "2.00"),
    ]
    assert replaced["discounts"][1]["itemId"] == replaced["items"][1]["id"]
    assert replaced["discountTotal"]["amount"] == "9.50"
    assert replaced["payableTotal"]["amount"] == "68.00"  # 74.50 + 3.00 - 9.50
    assert await get(gql, order["id"]) == replaced


async def test_replace_discounts_with_an_empty_list_removes_them(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    order = (await create_order(discounts=[{"kind": "COUPON", "amount": "5.00"}]))["order"]
    payload = (
        await gql.execute(REPLACE_DISCOUNTS, {"input": {"orderId": order["id"], "discounts": []}})
    )["replaceDiscounts"]
    assert payload["errors"] == []
    assert payload["order"]["discounts"] == []
    assert payload["order"]["discountTotal"]["amount"] == "0.00"
    assert payload["order"]["payableTotal"]["amount"] == "74.50"


@pytest.mark.parametrize("status", ["PAID", "ACCEPTED", "FULFILLING", "COMPLETED", "CANCELLED"])
async def test_replace_discounts_is_refused_once_the_order_left_created(
    gql: GraphQLClient,
    create_order: CreateOrder,
    transition: Transition,
    status: str,
) -> None:
    order = await order_in(create_order, transition, status)
    payload = (
        await gql.execute(
            REPLACE_DISCOUNTS,
            {
                "input": {
                    "orderId": order["id"],
                    "discounts": [{"kind": "MANUAL", "amount": "10.00"}],
                }
            },
        )
    )["replaceDiscounts"]
    assert payload["order"] is None
    error = find_error(payload, "VALIDATION")
    assert "CREATED" in error["message"], "the message should say why (only while CREATED)"
    after = await get(gql, order["id"])
    assert after["discounts"] == []
    assert after["version"] == order["version"]


async def test_replace_discounts_larger_than_payable_is_refused_and_changes_nothing(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    order = (await create_order(discounts=[{"kind": "COUPON", "amount": "5.00"}]))["order"]
    payload = (
        await gql.execute(
            REPLACE_DISCOUNTS,
            {"input": {"orderId": order["id"], "discounts": [{"kind": "MANUAL", "amount": "75"}]}},
        )
    )["replaceDiscounts"]
    assert payload["order"] is None
    matches = [
        e
        for e in payload["errors"]
        if e["code"] == "VALIDATION" and (e["field"] or [])[:2] == ["input", "discounts"]
    ]
    assert matches, payload["errors"]
    assert await get(gql, order["id"]) == order


async def test_replace_discounts_with_item_index_out_of_range_is_refused(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    order = (await create_order())["order"]
    payload = (
        await gql.execute(
            REPLACE_DISCOUNTS,
            {
                "input": {
                    "orderId": order["id"],
                    "discounts": [{"kind": "COUPON", "amount": "1.00", "itemIndex": 5}],
                }
            },
        )
    )["replaceDiscounts"]
    find_error(payload, "VALIDATION", ["input", "discounts", "0", "itemIndex"])
    assert await get(gql, order["id"]) == order


# --- updateOrder -----------------------------------------------------------------------------


async def update(gql: GraphQLClient, **fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql.execute(UPDATE, {"input": fields}))["updateOrder"]
    return payload


async def test_update_order_sets_the_remark(gql: GraphQLClient, create_order: CreateOrder) -> None:
    order = (await create_order(remark="no sugar"))["order"]
    payload = await update(gql, orderId=order["id"], remark="extra hot", expectedVersion=1)
    assert payload["errors"] == []
    assert payload["order"]["remark"] == "extra hot"
    assert payload["order"]["version"] == 2
    assert (await get(gql, order["id"]))["remark"] == "extra hot"


async def test_update_order_without_remark_keeps_it(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    order = (await create_order(remark="no sugar"))["order"]
    payload = await update(gql, orderId=order["id"], attributes={"table": 4})
    assert payload["order"]["remark"] == "no sugar"


async def test_update_order_with_null_remark_clears_it(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    order = (await create_order(remark="no sugar"))["order"]
    payload = await update(gql, orderId=order["id"], remark=None)
    assert payload["errors"] == []
    assert payload["order"]["remark"] is None


async def test_update_order_merges_attributes_shallowly_and_null_removes_a_key(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    order = (
        await create_order(attributes={"a": 1, "b": {"x": 1, "y": 2}, "keep": "me", "gone": True})
    )["order"]
    payload = await update(
        gql, orderId=order["id"], attributes={"b": {"z": 3}, "c": [1, 2], "gone": None}
    )
    assert payload["errors"] == []
    expected = {"a": 1, "b": {"z": 3}, "keep": "me", "c": [1, 2]}
    assert payload["order"]["attributes"] == expected
    assert (await get(gql, order["id"]))["attributes"] == expected


async def test_update_order_keeps_attributes_when_none_are_given(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    order = (await create_order(attributes={"a": 1}))["order"]
    payload = await update(gql, orderId=order["id"], remark="hi")
    assert payload["order"]["attributes"] == {"a": 1}


async def test_update_order_refuses_attributes_that_grow_past_64kb(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    order = (await create_order(attributes={"one": "x" * 40_000}))["order"]
    payload = await update(gql, orderId=order["id"], attributes={"two": "y" * 40_000})
    assert payload["order"] is None
    find_error(payload, "VALIDATION", ["input", "attributes"])
    assert await get(gql, order["id"]) == order


async def test_update_order_refuses_a_huge_remark(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    order = (await create_order())["order"]
    payload = await update(gql, orderId=order["id"], remark="r" * 100_000)
    find_error(payload, "VALIDATION", ["input", "remark"])
    assert await get(gql, order["id"]) == order


async def test_update_order_refuses_attributes_that_are_not_an_object(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    order = (await create_order(attributes={"a": 1}))["order"]
    payload = await update(gql, orderId=order["id"], attributes=[1, 2, 3])
    find_error(payload, "VALIDATION", ["input", "attributes"])
    assert await get(gql, order["id"]) == order


async def test_transition_refuses_a_huge_reason(
    gql: GraphQLClient, create_order: CreateOrder, transition: Transition
) -> None:
    order = (await create_order())["order"]
    payload = await transition(order["id"], "PAID", reason="r" * 100_000)
    find_error(payload, "VALIDATION", ["input", "reason"])
    assert await get(gql, order["id"]) == order
