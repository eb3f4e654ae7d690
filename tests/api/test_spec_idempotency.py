"""Issue 2, "Idempotency and external orders": retries are safe, keys belong to one client,
an external order exists once."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tests.api.conftest import (
    CREATE,
    GET_ORDER,
    TRANSITION,
    CreateOrder,
    Transition,
    order_input,
)
from tests.api.test_spec_support import find_error, store_order_ids
from tests.conftest import GraphQLClient

EXTERNAL = """
query Ext($platform: String!, $orderId: String!) {
  orderByExternalRef(platform: $platform, orderId: $orderId) {
    id version externalRef { platform orderId } items { skuId }
  }
}"""


def new_key() -> str:
    return f"key-{uuid.uuid4().hex}"


async def create_as(
    client: GraphQLClient, store_id: str, key: str | None = None, **overrides: Any
) -> dict[str, Any]:
    variables = {"input": order_input(store_id, **overrides), "key": key}
    payload: dict[str, Any] = (await client.execute(CREATE, variables))["createOrder"]
    return payload


async def get(gql: GraphQLClient, order_id: str) -> dict[str, Any]:
    order: dict[str, Any] = (await gql.execute(GET_ORDER, {"id": order_id}))["order"]
    return order


# --- createOrder -----------------------------------------------------------------------------


async def test_same_key_and_same_input_returns_the_same_order_not_created(
    gql: GraphQLClient, store_id: str, create_order: CreateOrder
) -> None:
    key = new_key()
    first = await create_order(key=key, remark="ring twice")
    again = await create_order(key=key, remark="ring twice")
    assert first["created"] is True
    assert again["errors"] == []
    assert again["created"] is False
    assert again["order"]["id"] == first["order"]["id"]
    assert again["order"]["orderNo"] == first["order"]["orderNo"]
    assert again["order"]["version"] == 1
    assert await store_order_ids(gql, store_id) == [first["order"]["id"]]


async def test_same_key_with_different_input_is_refused(
    gql: GraphQLClient, store_id: str, create_order: CreateOrder
) -> None:
    key = new_key()
    first = await create_order(key=key)
    other_items = [{"skuId": "mocha", "name": "Mocha", "quantity": 1, "unitPrice": "30.00"}]
    reused = await create_order(key=key, items=other_items)
    assert reused["order"] is None
    assert reused["created"] is False
    find_error(reused, "IDEMPOTENCY_KEY_REUSED")
    assert await store_order_ids(gql, store_id) == [first["order"]["id"]]
    assert (await get(gql, first["order"]["id"]))["items"][0]["skuId"] == "latte"


async def test_same_key_from_another_client_creates_another_order(
    gql: GraphQLClient, store_id: str
) -> None:
    key = new_key()
    mine = await create_as(gql.as_client("app-one"), store_id, key)
    theirs = await create_as(gql.as_client("app-two"), store_id, key)
    assert mine["created"] is True
    assert theirs["created"] is True
    assert theirs["errors"] == []
    assert theirs["order"]["id"] != mine["order"]["id"]
    assert sorted(await store_order_ids(gql, store_id)) == sorted(
        [mine["order"]["id"], theirs["order"]["id"]]
    )


async def test_same_key_from_another_client_with_other_input_is_not_a_reuse(
    gql: GraphQLClient, store_id: str
) -> None:
    key = new_key()
    await create_as(gql.as_client("app-one"), store_id, key)
    theirs = await create_as(gql.as_client("app-two"), store_id, key, remark="different")
    assert theirs["errors"] == []
    assert theirs["created"] is True


async def test_creates_without_a_key_are_independent(
    gql: GraphQLClient, store_id: str, create_order: CreateOrder
) -> None:
    one = await create_order()
    two = await create_order()
    assert one["order"]["id"] != two["order"]["id"]
    assert two["created"] is True
    assert len(await store_order_ids(gql, store_id)) == 2


async def test_twenty_concurrent_creates_with_one_key_make_one_order(
    gql: GraphQLClient, store_id: str
) -> None:
    key = new_key()
    payloads = await asyncio.gather(*(create_as(gql, store_id, key) for _ in range(20)))
    assert all(p["errors"] == [] for p in payloads), payloads
    assert len({p["order"]["id"] for p in payloads}) == 1
    assert sum(p["created"] for p in payloads) == 1
    assert len(await store_order_ids(gql, store_id)) == 1


# --- transitionOrder -------------------------------------------------------------------------


async def test_transition_retry_with_the_same_key_returns_the_first_result(
    gql: GraphQLClient, create_order: CreateOrder, transition: Transition
) -> None:
    order = (await create_order())["order"]
    key = new_key()
    first = await transition(order["id"], "PAID", key=key, expectedVersion=1, reason="paid")
    retry = await transition(order["id"], "PAID", key=key, expectedVersion=1, reason="paid")
    assert first["errors"] == []
    assert retry["errors"] == []
    assert retry["order"]["id"] == order["id"]
    assert (retry["order"]["mainStatus"], retry["order"]["version"]) == ("PAID", 2)
    after = await get(gql, order["id"])
    assert after["version"] == 2
    assert [e["toMainStatus"] for e in after["statusHistory"]] == ["CREATED", "PAID"]


async def test_transition_retry_after_a_later_change_still_returns_the_first_result(
    gql: GraphQLClient, create_order: CreateOrder, transition: Transition
) -> None:
    order = (await create_order())["order"]
    key = new_key()
    first = await transition(order["id"], "PAID", key=key, expectedVersion=1)
    await transition(order["id"], "ACCEPTED", expectedVersion=2)
    retry = await transition(order["id"], "PAID", key=key, expectedVersion=1)
    assert retry["errors"] == []
    assert retry["order"]["mainStatus"] == first["order"]["mainStatus"] == "PAID"
    assert retry["order"]["version"] == first["order"]["version"] == 2
    assert (await get(gql, order["id"]))["mainStatus"] == "ACCEPTED"


async def test_transition_retry_does_not_cancel_twice_or_fail(
    gql: GraphQLClient, create_order: CreateOrder, transition: Transition
) -> None:
    # Without the key, a second CANCELLED would be an INVALID_TRANSITION.
    order = (await create_order())["order"]
    key = new_key()
    await transition(order["id"], "CANCELLED", key=key)
    retry = await transition(order["id"], "CANCELLED", key=key)
    assert retry["errors"] == []
    assert retry["order"]["mainStatus"] == "CANCELLED"
    assert (await get(gql, order["id"]))["version"] == 2


async def test_transition_key_reused_with_a_different_request_is_refused(
    gql: GraphQLClient, create_order: CreateOrder, transition: Transition
) -> None:
    order = (await create_order())["order"]
    key = new_key()
    await transition(order["id"], "PAID", key=key)
    reused = await transition(order["id"], "ACCEPTED", key=key)
    assert reused["order"] is None
    find_error(reused, "IDEMPOTENCY_KEY_REUSED")
    assert (await get(gql, order["id"]))["mainStatus"] == "PAID"


async def test_transition_key_of_another_client_is_not_a_retry(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    order = (await create_order())["order"]
    key = new_key()
    variables = {"input": {"orderId": order["id"], "to": "PAID"}, "key": key}
    first = (await gql.as_client("till").execute(TRANSITION, variables))["transitionOrder"]
    other = (await gql.as_client("kiosk").execute(TRANSITION, variables))["transitionOrder"]
    assert first["errors"] == []
    # For the kiosk this is a fresh request: PAID -> PAID is not in the table.
    find_error(other, "INVALID_TRANSITION")


async def test_twenty_concurrent_transitions_with_one_version_give_one_success(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    order = (await create_order())["order"]

    async def pay() -> dict[str, Any]:
        variables = {"input": {"orderId": order["id"], "to": "PAID", "expectedVersion": 1}}
        payload: dict[str, Any] = (await gql.execute(TRANSITION, variables))["transitionOrder"]
        return payload

    payloads = await asyncio.gather(*(pay() for _ in range(20)))
    succeeded = [p for p in payloads if p["errors"] == []]
    conflicts = [p for p in payloads if [e["code"] for e in p["errors"]] == ["VERSION_CONFLICT"]]
    assert len(succeeded) == 1, payloads
    assert len(conflicts) == 19, payloads
    assert all(p["errors"][0]["currentVersion"] == 2 for p in conflicts)
    after = await get(gql, order["id"])
    assert after["version"] == 2
    assert [e["toMainStatus"] for e in after["statusHistory"]] == ["CREATED", "PAID"]


# --- externalRef -----------------------------------------------------------------------------


async def test_existing_external_ref_returns_the_existing_order_and_changes_nothing(
    gql: GraphQLClient, store_id: str, create_order: CreateOrder
) -> None:
    ref = {"platform": "meituan", "orderId": f"mt-{uuid.uuid4().hex}"}
    first = await create_order(externalRef=ref, initialStatus="PAID")
    other_items = [{"skuId": "mocha", "name": "Mocha", "quantity": 5, "unitPrice": "30.00"}]
    again = await create_order(externalRef=ref, items=other_items, remark="changed")
    assert first["created"] is True
    assert again["errors"] == []
    assert again["created"] is False
    assert again["order"]["id"] == first["order"]["id"]
    stored = await get(gql, first["order"]["id"])
    assert stored == first["order"]
    assert await store_order_ids(gql, store_id) == [first["order"]["id"]]


async def test_external_ref_is_unique_across_clients(gql: GraphQLClient, store_id: str) -> None:
    ref = {"platform": "eleme", "orderId": f"el-{uuid.uuid4().hex}"}
    first = await create_as(gql.as_client("sync-a"), store_id, externalRef=ref)
    second = await create_as(gql.as_client("sync-b"), store_id, externalRef=ref)
    assert second["created"] is False
    assert second["order"]["id"] == first["order"]["id"]
    assert len(await store_order_ids(gql, store_id)) == 1


async def test_same_platform_order_id_on_another_platform_is_another_order(
    gql: GraphQLClient, store_id: str, create_order: CreateOrder
) -> None:
    number = f"ext-{uuid.uuid4().hex}"
    one = await create_order(externalRef={"platform": "meituan", "orderId": number})
    two = await create_order(externalRef={"platform": "eleme", "orderId": number})
    assert one["created"] is True
    assert two["created"] is True
    assert one["order"]["id"] != two["order"]["id"]
    assert len(await store_order_ids(gql, store_id)) == 2


async def test_order_by_external_ref_finds_the_order(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    ref = {"platform": "meituan", "orderId": f"mt-{uuid.uuid4().hex}"}
    order = (await create_order(externalRef=ref))["order"]
    assert order["externalRef"] == ref
    found = (await gql.execute(EXTERNAL, ref))["orderByExternalRef"]
    assert found["id"] == order["id"]
    assert found["externalRef"] == ref
    missing = {"platform": "meituan", "orderId": f"mt-{uuid.uuid4().hex}"}
    assert (await gql.execute(EXTERNAL, missing))["orderByExternalRef"] is None
    other_platform = {"platform": "eleme", "orderId": ref["orderId"]}
    assert (await gql.execute(EXTERNAL, other_platform))["orderByExternalRef"] is None


async def test_twenty_concurrent_creates_of_one_external_order_make_one_order(
    gql: GraphQLClient, store_id: str
) -> None:
    ref = {"platform": "meituan", "orderId": f"mt-{uuid.uuid4().hex}"}
    payloads = await asyncio.gather(
        *(create_as(gql.as_client(f"sync-{n}"), store_id, externalRef=ref) for n in range(20))
    )
    assert all(p["errors"] == [] for p in payloads), payloads
    assert len({p["order"]["id"] for p in payloads}) == 1
    assert sum(p["created"] for p in payloads) == 1
    assert len(await store_order_ids(gql, store_id)) == 1
