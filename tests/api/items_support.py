"""The item-change mutations as a client sends them, and the money identities they keep."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.api.conftest import ERRORS
from tests.conftest import FRAGMENTS, GraphQLClient

PAYLOAD = f"order {{ ...OrderFull }} dryRun {ERRORS} change {{ kind version }}"

CHANGE_ITEMS = (
    FRAGMENTS
    + f"""
mutation Change($input: ChangeItemsInput!, $key: String, $dry: Boolean! = false) {{
  changeItems(input: $input, idempotencyKey: $key, dryRun: $dry) {{ {PAYLOAD} }}
}}"""
)

CANCEL_ITEMS = (
    FRAGMENTS
    + f"""
mutation Cancel($input: CancelItemsInput!, $key: String, $dry: Boolean! = false) {{
  cancelItems(input: $input, idempotencyKey: $key, dryRun: $dry) {{ {PAYLOAD} }}
}}"""
)

EVENTS = """query($order: ID!) {
  orderEvents(filter: {orderIds: [$order]}, first: 100) {
    edges { node { type version mainStatus previousMainStatus } }
  }
}"""


async def change_items(
    gql: GraphQLClient, key: str | None = None, dry: bool = False, **input: Any
) -> dict[str, Any]:
    variables = {"input": input, "key": key, "dry": dry}
    payload: dict[str, Any] = (await gql.execute(CHANGE_ITEMS, variables))["changeItems"]
    return payload


async def cancel_items(
    gql: GraphQLClient, key: str | None = None, dry: bool = False, **input: Any
) -> dict[str, Any]:
    variables = {"input": input, "key": key, "dry": dry}
    payload: dict[str, Any] = (await gql.execute(CANCEL_ITEMS, variables))["cancelItems"]
    return payload


async def event_types(gql: GraphQLClient, order_id: str) -> list[dict[str, Any]]:
    page = await gql.execute(EVENTS, {"order": order_id})
    return [edge["node"] for edge in page["orderEvents"]["edges"]]


def amount(money: dict[str, str]) -> Decimal:
    return Decimal(money["amount"])


def check_identities(order: dict[str, Any]) -> None:
    """What must hold of every order, exactly, whatever was changed or cancelled."""
    items = order["items"]
    for item in items:
        assert 0 <= item["cancelledQuantity"] <= item["quantity"]
        assert item["activeQuantity"] == item["quantity"] - item["cancelledQuantity"]
        assert amount(item["lineTotal"]) == amount(item["unitPrice"]) * item["quantity"]
    assert amount(order["itemsTotal"]) == sum(amount(item["lineTotal"]) for item in items)
    assert amount(order["discountTotal"]) == sum(amount(d["amount"]) for d in order["discounts"])
    refunds = [c["refundAmount"] for c in order["changes"] if c["refundAmount"] is not None]
    assert amount(order["refundedTotal"]) == sum(amount(r) for r in refunds)
    assert amount(order["payableTotal"]) == (
        amount(order["itemsTotal"])
        + amount(order["deliveryFee"])
        + amount(order["packagingFee"])
        - amount(order["discountTotal"])
        - amount(order["refundedTotal"])
    )
    assert amount(order["payableTotal"]) >= 0
    if items and all(item["activeQuantity"] == 0 for item in items):
        assert order["mainStatus"] == "CANCELLED"
