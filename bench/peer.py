"""The peer: PostGraphile 5 over the same database, with its equivalents of the read scenarios.

PostGraphile generates its schema from the tables (bench/postgraphile/server.mjs), so its
answers have another shape: an order's columns as they are stored (money in minor units with a
`currency`, `rowId` beside its own node `id`), its lists as connections ordered by row id.
Each read scenario here selects what the scenario's tier shows, column for column; what
order-graph computes (orderNo, allowedTransitions, activeQuantity, formatted amounts) a
PostGraphile client computes from the columns selected for it (createdAt, mainStatus,
quantity, currency). The identical-answer check therefore compares *values*: the same orders
in the same order, and for each the same main fields, items, discounts, history and changes.
"""

from __future__ import annotations

import base64
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from common import decode_id, exponent
from scenarios import BY_IDS, PAGE, Scenario

SUMMARY = "rowId version storeId mainStatus subStatus payableTotal currency createdAt updatedAt"
STANDARD_ITEMS = "rowId skuId name quantity unitPrice lineTotal"
FRAGMENTS = {
    "OrderSummary": f"fragment OrderSummary on Order {{ {SUMMARY} }}",
    "OrderStandard": (
        "fragment OrderStandard on Order {\n  ...OrderSummary\n"
        "  channel fulfillmentType customerId itemsTotal discountTotal\n"
        f"  orderItemsByOrderId(orderBy: ROW_ID_ASC) {{ nodes {{ {STANDARD_ITEMS} }} }}\n}}"
    ),
    "OrderFull": (
        "fragment OrderFull on Order {\n  ...OrderStandard\n"
        "  externalPlatform externalOrderId deliveryFee packagingFee refundedTotal remark"
        " attributes\n"
        "  orderItemsByOrderId(orderBy: ROW_ID_ASC) { nodes { attributes cancelledQuantity } }\n"
        "  orderDiscountsByOrderId(orderBy: ROW_ID_ASC) {\n"
        "    nodes { rowId kind code description amount itemId fundedBy }\n  }\n"
        "  statusChangesByOrderId(orderBy: ROW_ID_ASC) {\n"
        "    nodes { fromMainStatus toMainStatus fromSubStatus toSubStatus reason actor"
        " occurredAt version }\n  }\n"
        "  orderChangesByOrderId(orderBy: VERSION_ASC) {\n"
        "    nodes { kind version reason actor occurredAt lines discounts refundAmount }\n  }\n}"
    ),
}
TIERS = ("OrderSummary", "OrderStandard", "OrderFull")


def document(scenario: Scenario) -> str:
    """The scenario's equivalent PostGraphile document (read scenarios only)."""
    tier = scenario.tier
    if scenario.name.startswith("order_"):
        operation = (
            f"query {scenario.operation}($id: BigInt!) {{\n"
            f"  orderByRowId(rowId: $id) {{ ...{tier} }}\n}}"
        )
    elif scenario.name.startswith("orders50_"):
        operation = (
            f"query {scenario.operation}($store: String!, $after: Cursor) {{\n"
            f"  allOrders(condition: {{storeId: $store}}, orderBy: ROW_ID_DESC, first: {PAGE},"
            " after: $after) {\n"
            f"    edges {{ cursor node {{ ...{tier} }} }}\n"
            "    pageInfo { hasNextPage endCursor }\n  }\n}"
        )
    else:  # 20 orders by id: PostGraphile has no list lookup, a client sends 20 aliases
        params = ", ".join(f"$i{n}: BigInt!" for n in range(BY_IDS))
        fields = "\n".join(
            f"  o{n}: orderByRowId(rowId: $i{n}) {{ ...{tier} }}" for n in range(BY_IDS)
        )
        operation = f"query {scenario.operation}({params}) {{\n{fields}\n}}"
    needed = TIERS[: TIERS.index(tier) + 1]
    return operation + "\n\n" + "\n\n".join(FRAGMENTS[name] for name in needed) + "\n"


def cursor(digest: str, order_id: int) -> str:
    """PostGraphile's cursor after `order_id` in ROW_ID_DESC order: base64 of [digest, id]."""
    return base64.b64encode(orjson.dumps([digest, str(order_id)])).decode()


def body(scenario: Scenario, ceiling_body: bytes, digest: str) -> bytes:
    """The PostGraphile request equivalent to one of the ceiling's request bodies."""
    given = orjson.loads(ceiling_body)["variables"]
    if scenario.name.startswith("order_"):
        variables: dict[str, Any] = {"id": str(decode_id("Order", given["id"]))}
    elif scenario.name.startswith("orders50_"):
        after = given.get("after")
        variables = {
            "store": given["store"],
            "after": None if after is None else cursor(digest, decode_id("OrderCursor", after)),
        }
    else:
        variables = {f"i{n}": str(decode_id("Order", v)) for n, v in enumerate(given["ids"])}
    return orjson.dumps(
        {"query": document(scenario), "operationName": scenario.operation, "variables": variables}
    )


# --- The values both answers must share ------------------------------------------------------


def _minor(amount: dict[str, str] | None) -> int | None:
    if amount is None:
        return None
    return int(Decimal(amount["amount"]).scaleb(exponent(amount["currency"])))


def _int(value: str | None) -> int | None:
    return None if value is None else int(value)


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _from_ceiling(order: dict[str, Any] | None) -> dict[str, Any] | None:
    if order is None:
        return None
    found: dict[str, Any] = {
        "id": decode_id("Order", order["id"]),
        "version": order["version"],
        "storeId": order["storeId"],
        "mainStatus": order["mainStatus"],
        "subStatus": order["subStatus"],
        "payable": _minor(order["payableTotal"]),
        "currency": order["payableTotal"]["currency"],
        "updatedAt": _at(order["updatedAt"]),
    }
    if "items" in order:
        found.update(
            channel=order["channel"],
            fulfillmentType=order["fulfillmentType"],
            customerId=order["customerId"],
            createdAt=_at(order["createdAt"]),
            itemsTotal=_minor(order["itemsTotal"]),
            discountTotal=_minor(order["discountTotal"]),
            items=[
                (
                    decode_id("OrderItem", i["id"]),
                    i["skuId"],
                    i["name"],
                    i["quantity"],
                    _minor(i["unitPrice"]),
                    _minor(i["lineTotal"]),
                    i.get("attributes"),
                    i.get("cancelledQuantity"),
                )
                for i in order["items"]
            ],
        )
    if "discounts" in order:
        ref = order["externalRef"] or {}
        found.update(
            external=(ref.get("platform"), ref.get("orderId")),
            fees=(_minor(order["deliveryFee"]), _minor(order["packagingFee"])),
            refunded=_minor(order["refundedTotal"]),
            remark=order["remark"],
            attributes=order["attributes"],
            discounts=[
                (
                    decode_id("OrderDiscount", d["id"]),
                    d["kind"],
                    d["code"],
                    _minor(d["amount"]),
                    None if d["itemId"] is None else decode_id("OrderItem", d["itemId"]),
                )
                for d in order["discounts"]
            ],
            history=[
                (h["toMainStatus"], h["toSubStatus"], h["version"], _at(h["occurredAt"]))
                for h in order["statusHistory"]
            ],
            changes=[
                (c["kind"], c["version"], len(c["lines"]), _minor(c["refundAmount"]))
                for c in order["changes"]
            ],
        )
    return found


def _from_peer(order: dict[str, Any] | None) -> dict[str, Any] | None:
    if order is None:
        return None
    found: dict[str, Any] = {
        "id": int(order["rowId"]),
        "version": order["version"],
        "storeId": order["storeId"],
        "mainStatus": order["mainStatus"],
        "subStatus": order["subStatus"],
        "payable": _int(order["payableTotal"]),
        "currency": order["currency"],
        "updatedAt": _at(order["updatedAt"]),
    }
    if "orderItemsByOrderId" in order:
        found.update(
            channel=order["channel"],
            fulfillmentType=order["fulfillmentType"],
            customerId=order["customerId"],
            createdAt=_at(order["createdAt"]),
            itemsTotal=_int(order["itemsTotal"]),
            discountTotal=_int(order["discountTotal"]),
            items=[
                (
                    int(i["rowId"]),
                    i["skuId"],
                    i["name"],
                    i["quantity"],
                    _int(i["unitPrice"]),
                    _int(i["lineTotal"]),
                    i.get("attributes"),
                    i.get("cancelledQuantity"),
                )
                for i in order["orderItemsByOrderId"]["nodes"]
            ],
        )
    if "orderDiscountsByOrderId" in order:
        found.update(
            external=(order["externalPlatform"], order["externalOrderId"]),
            fees=(_int(order["deliveryFee"]), _int(order["packagingFee"])),
            refunded=_int(order["refundedTotal"]),
            remark=order["remark"],
            attributes=order["attributes"],
            discounts=[
                (int(d["rowId"]), d["kind"], d["code"], _int(d["amount"]), _int(d["itemId"]))
                for d in order["orderDiscountsByOrderId"]["nodes"]
            ],
            history=[
                (h["toMainStatus"], h["toSubStatus"], h["version"], _at(h["occurredAt"]))
                for h in order["statusChangesByOrderId"]["nodes"]
            ],
            changes=[
                (c["kind"], c["version"], len(c["lines"]), _int(c["refundAmount"]))
                for c in order["orderChangesByOrderId"]["nodes"]
            ],
        )
    return found


def values_of_ceiling(scenario: Scenario, data: dict[str, Any]) -> Any:
    if scenario.name.startswith("order_"):
        return _from_ceiling(data["order"])
    if scenario.name.startswith("orders50_"):
        page = data["orders"]
        nodes = [_from_ceiling(edge["node"]) for edge in page["edges"]]
        return nodes, page["pageInfo"]["hasNextPage"]
    return [_from_ceiling(order) for order in data["ordersByIds"]]


def values_of_peer(scenario: Scenario, data: dict[str, Any]) -> Any:
    if scenario.name.startswith("order_"):
        return _from_peer(data["orderByRowId"])
    if scenario.name.startswith("orders50_"):
        page = data["allOrders"]
        nodes = [_from_peer(edge["node"]) for edge in page["edges"]]
        return nodes, page["pageInfo"]["hasNextPage"]
    return [_from_peer(data[f"o{n}"]) for n in range(BY_IDS)]


def same_values(scenario: Scenario, peer: bytes, ceiling: bytes) -> str | None:
    """None when PostGraphile's answer holds the ceiling's orders and values, else what differs."""
    answer = orjson.loads(peer)
    if answer.get("errors") or "data" not in answer:
        return f"PostGraphile answered with errors: {peer[:400]!r}"
    mine = values_of_peer(scenario, answer["data"])
    theirs = values_of_ceiling(scenario, orjson.loads(ceiling)["data"])
    if mine == theirs:
        return None
    return f"values differ:\n  PostGraphile: {str(mine)[:600]}\n  ceiling:      {str(theirs)[:600]}"
