"""Issue 2, "Lifecycle": registered sub-statuses, how moves set and clear them, and their
history. Definitions are global, so every test registers codes of its own."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import (
    DEFINE_SUB_STATUS,
    GET_ORDER,
    SET_SUB_STATUS,
    CreateOrder,
    Transition,
    define_sub_status,
)
from tests.api.test_spec_support import find_error, store_order_ids, unique_code
from tests.conftest import GraphQLClient

DEFINITIONS = """
query Defs($main: MainStatus) {
  subStatusDefinitions(mainStatus: $main) { code mainStatus description definedBy }
}"""


async def define(
    gql: GraphQLClient, main: str, code: str, description: str | None = None
) -> dict[str, Any]:
    variables = {"input": {"mainStatus": main, "code": code, "description": description}}
    payload: dict[str, Any] = (await gql.execute(DEFINE_SUB_STATUS, variables))["defineSubStatus"]
    return payload


async def definitions(gql: GraphQLClient, main: str | None = None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await gql.execute(DEFINITIONS, {"main": main}))[
        "subStatusDefinitions"
    ]
    return found


async def set_sub(
    gql: GraphQLClient, order_id: str, code: str | None, **fields: Any
) -> dict[str, Any]:
    variables = {"input": {"orderId": order_id, "subStatus": code, **fields}}
    payload: dict[str, Any] = (await gql.execute(SET_SUB_STATUS, variables))["setSubStatus"]
    return payload


async def get(gql: GraphQLClient, order_id: str) -> dict[str, Any]:
    order: dict[str, Any] = (await gql.execute(GET_ORDER, {"id": order_id}))["order"]
    return order


# --- defineSubStatus -------------------------------------------------------------------------


async def test_defined_sub_status_is_listed_under_its_main_status_only(
    gql: GraphQLClient,
) -> None:
    code = unique_code("RIDER_ASSIGNED")
    payload = await define(gql.as_client("dispatch-app"), "FULFILLING", code, "a rider has it")
    assert payload["errors"] == []
    expected = {
        "code": code,
        "mainStatus": "FULFILLING",
        "description": "a rider has it",
        "definedBy": "dispatch-app",
    }
    assert payload["definition"] == expected
    assert expected in await definitions(gql, "FULFILLING")
    assert expected in await definitions(gql)
    assert code not in [d["code"] for d in await definitions(gql, "ACCEPTED")]
    assert all(d["mainStatus"] == "FULFILLING" for d in await definitions(gql, "FULFILLING"))


async def test_sub_status_code_of_64_characters_is_accepted(gql: GraphQLClient) -> None:
    code = unique_code("A" * 50)
    code = code + "X" * (64 - len(code))
    assert len(code) == 64
    payload = await define(gql, "PAID", code)
    assert payload["errors"] == []
    assert payload["definition"]["code"] == code


@pytest.mark.parametrize(
    "code",
    [
        "R" * 65,
        "rider_assigned",
        "Rider_Assigned",
        "RIDER-ASSIGNED",
        "RIDER ASSIGNED",
        "_RIDER",
        "RIDER_",
        "1RIDER",
        "",
        "RIDER.ASSIGNED",
    ],
    ids=[
        "65_chars",
        "lower",
        "mixed_case",
        "dash",
        "space",
        "leading_underscore",
        "trailing_underscore",
        "leading_digit",
        "empty",
        "dot",
    ],
)
async def test_sub_status_code_must_be_upper_snake_case_of_at_most_64(
    gql: GraphQLClient, code: str
) -> None:
    payload = await define(gql, "PAID", code)
    assert payload["definition"] is None
    find_error(payload, "VALIDATION", ["input", "code"])
    assert code not in [d["code"] for d in await definitions(gql)]


# --- transitionOrder with a sub-status ------------------------------------------------------


async def test_move_with_a_sub_status_registered_for_the_target_sets_it(
    gql: GraphQLClient, create_order: CreateOrder, transition: Transition
) -> None:
    code = unique_code("AWAITING_PICKUP")
    await define_sub_status(gql, "PAID", code)
    order = (await create_order())["order"]
    payload = await transition(order["id"], "PAID", subStatus=code, reason="paid")
    assert payload["errors"] == []
    moved = payload["order"]
    assert (moved["mainStatus"], moved["subStatus"]) == ("PAID", code)
    last = moved["statusHistory"][-1]
    assert (last["fromMainStatus"], last["toMainStatus"]) == ("CREATED", "PAID")
    assert (last["fromSubStatus"], last["toSubStatus"]) == (None, code)


async def test_move_with_an_unregistered_sub_status_is_refused(
    gql: GraphQLClient, create_order: CreateOrder, transition: Transition
) -> None:
    order = (await create_order())["order"]
    payload = await transition(order["id"], "PAID", subStatus=unique_code("NEVER_DEFINED"))
    assert payload["order"] is None
    find_error(payload, "UNKNOWN_SUB_STATUS")
    assert await get(gql, order["id"]) == order


async def test_move_with_a_sub_status_of_another_main_status_is_refused(
    gql: GraphQLClient, create_order: CreateOrder, transition: Transition
) -> None:
    code = unique_code("RIDER_ASSIGNED")
    await define_sub_status(gql, "FULFILLING", code)
    order = (await create_order())["order"]
    payload = await transition(order["id"], "PAID", subStatus=code)
    assert payload["order"] is None
    find_error(payload, "UNKNOWN_SUB_STATUS")
    assert await get(gql, order["id"]) == order


async def test_move_with_a_sub_status_of_the_current_main_status_is_refused(
    gql: GraphQLClient, create_order: CreateOrder, transition: Transition
) -> None:
    # Registered for CREATED (where the order is), not for PAID (where it goes).
    code = unique_code("WAITING_PAYMENT")
    await define_sub_status(gql, "CREATED", code)
    order = (await create_order())["order"]
    payload = await transition(order["id"], "PAID", subStatus=code)
    find_error(payload, "UNKNOWN_SUB_STATUS")
    assert (await get(gql, order["id"]))["mainStatus"] == "CREATED"


async def test_main_move_without_a_sub_status_clears_it(
    gql: GraphQLClient, create_order: CreateOrder, transition: Transition
) -> None:
    code = unique_code("AWAITING_PICKUP")
    await define_sub_status(gql, "PAID", code)
    order = (await create_order())["order"]
    paid = (await transition(order["id"], "PAID", subStatus=code))["order"]
    assert paid["subStatus"] == code
    accepted = await transition(order["id"], "ACCEPTED")
    assert accepted["errors"] == []
    assert accepted["order"]["subStatus"] is None
    last = accepted["order"]["statusHistory"][-1]
    assert (last["fromSubStatus"], last["toSubStatus"]) == (code, None)
    assert (await get(gql, order["id"]))["subStatus"] is None


async def test_main_move_with_a_new_sub_status_replaces_the_old_one(
    gql: GraphQLClient, create_order: CreateOrder, transition: Transition
) -> None:
    first, second = unique_code("AWAITING"), unique_code("COOKING")
    await define_sub_status(gql, "PAID", first)
    await define_sub_status(gql, "ACCEPTED", second)
    order = (await create_order())["order"]
    await transition(order["id"], "PAID", subStatus=first)
    moved = (await transition(order["id"], "ACCEPTED", subStatus=second))["order"]
    assert (moved["mainStatus"], moved["subStatus"]) == ("ACCEPTED", second)


async def test_cancelling_clears_the_sub_status(
    gql: GraphQLClient, create_order: CreateOrder, transition: Transition
) -> None:
    code = unique_code("COOKING")
    await define_sub_status(gql, "ACCEPTED", code)
    order = (await create_order(initialStatus="PAID"))["order"]
    await transition(order["id"], "ACCEPTED", subStatus=code)
    cancelled = (await transition(order["id"], "CANCELLED", reason="out of stock"))["order"]
    assert (cancelled["mainStatus"], cancelled["subStatus"]) == ("CANCELLED", None)


# --- setSubStatus ----------------------------------------------------------------------------


async def test_set_sub_status_records_actor_reason_and_version(
    gql: GraphQLClient, create_order: CreateOrder, transition: Transition
) -> None:
    first, second = unique_code("AWAITING"), unique_code("AT_COUNTER")
    await define_sub_status(gql, "PAID", first)
    await define_sub_status(gql, "PAID", second)
    order = (await create_order(initialStatus="PAID"))["order"]
    one = await set_sub(gql.as_client("kitchen"), order["id"], first, expectedVersion=1)
    assert one["errors"] == []
    two = await set_sub(gql.as_client("counter"), order["id"], second, reason="ready")
    assert two["errors"] == []
    updated = two["order"]
    assert (updated["mainStatus"], updated["subStatus"], updated["version"]) == ("PAID", second, 3)
    history = updated["statusHistory"]
    assert [
        (
            e["fromMainStatus"],
            e["toMainStatus"],
            e["fromSubStatus"],
            e["toSubStatus"],
            e["actor"],
            e["reason"],
            e["version"],
        )
        for e in history[1:]
    ] == [
        ("PAID", "PAID", None, first, "kitchen", None, 2),
        ("PAID", "PAID", first, second, "counter", "ready", 3),
    ]
    assert (await get(gql, order["id"]))["statusHistory"] == history


async def test_set_sub_status_to_null_clears_it(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    code = unique_code("WAITING")
    await define_sub_status(gql, "CREATED", code)
    order = (await create_order())["order"]
    await set_sub(gql, order["id"], code)
    cleared = await set_sub(gql, order["id"], None)
    assert cleared["errors"] == []
    assert cleared["order"]["subStatus"] is None
    assert cleared["order"]["mainStatus"] == "CREATED"
    assert cleared["order"]["version"] == 3


async def test_set_sub_status_refuses_an_unregistered_code(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    order = (await create_order())["order"]
    payload = await set_sub(gql, order["id"], unique_code("NOT_REGISTERED"))
    assert payload["order"] is None
    find_error(payload, "UNKNOWN_SUB_STATUS")
    assert await get(gql, order["id"]) == order


async def test_set_sub_status_refuses_a_code_of_another_main_status(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    code = unique_code("RIDER_ASSIGNED")
    await define_sub_status(gql, "FULFILLING", code)
    order = (await create_order())["order"]
    payload = await set_sub(gql, order["id"], code)
    assert payload["order"] is None
    find_error(payload, "UNKNOWN_SUB_STATUS")
    assert await get(gql, order["id"]) == order


async def test_set_sub_status_does_not_change_the_main_status(
    gql: GraphQLClient, create_order: CreateOrder, transition: Transition
) -> None:
    code = unique_code("PACKING")
    await define_sub_status(gql, "ACCEPTED", code)
    order = (await create_order(initialStatus="PAID"))["order"]
    await transition(order["id"], "ACCEPTED")
    payload = await set_sub(gql, order["id"], code)
    assert payload["order"]["mainStatus"] == "ACCEPTED"
    assert sorted(payload["order"]["allowedTransitions"]) == ["CANCELLED", "FULFILLING"]


# --- createOrder with a sub-status -----------------------------------------------------------


async def test_create_with_a_sub_status_registered_for_the_initial_status(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    code = unique_code("SYNCED")
    await define_sub_status(gql, "PAID", code)
    payload = await create_order(initialStatus="PAID", subStatus=code)
    assert payload["errors"] == []
    assert (payload["order"]["mainStatus"], payload["order"]["subStatus"]) == ("PAID", code)
    assert payload["order"]["statusHistory"][0]["toSubStatus"] == code


async def test_create_with_an_unregistered_sub_status_is_refused_and_stores_nothing(
    gql: GraphQLClient, store_id: str, create_order: CreateOrder
) -> None:
    code = unique_code("SYNCED")
    await define_sub_status(gql, "PAID", code)  # registered for PAID, not for CREATED
    payload = await create_order(subStatus=code)
    assert payload["order"] is None
    find_error(payload, "UNKNOWN_SUB_STATUS")
    assert await store_order_ids(gql, store_id) == []
