"""The benchmark's scenarios: each one GraphQL document, and the request bodies that vary it.

The documents spread the official fragments from the top-level fragments.graphql. The ceiling
recognises a scenario by its operation name and checks that the document is exactly this one.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from common import ROOT, encode_id

FRAGMENT_FILE = ROOT / "fragments.graphql"
TIERS = ("OrderSummary", "OrderStandard", "OrderFull")


def fragments() -> dict[str, str]:
    """Each fragment's definition by name, as the published file writes it."""
    text = FRAGMENT_FILE.read_text()
    found: dict[str, str] = {}
    for match in re.finditer(r"^fragment (\w+) on \w+ \{.*?^\}", text, re.S | re.M):
        found[match.group(1)] = match.group(0)
    missing = [tier for tier in TIERS if tier not in found]
    if missing:
        raise RuntimeError(f"{FRAGMENT_FILE} lacks the fragments {missing}")
    return found


def with_fragments(operation: str, tier: str) -> str:
    """The operation and the fragment definitions it needs (a tier needs the ones below it)."""
    defined = fragments()
    needed = TIERS[: TIERS.index(tier) + 1]
    return operation + "\n\n" + "\n\n".join(defined[name] for name in needed) + "\n"


PAGE = 50
BY_IDS = 20


@dataclass(frozen=True)
class Scenario:
    name: str
    operation: str  # operation name
    tier: str
    kind: str  # "read" | "transition" | "create"
    text: str  # the operation without fragments

    @property
    def query(self) -> str:
        return with_fragments(self.text, self.tier)

    @property
    def reads(self) -> bool:
        return self.kind == "read"

    def body(self, variables: dict[str, Any]) -> bytes:
        return orjson.dumps(
            {"query": self.query, "operationName": self.operation, "variables": variables}
        )


def _by_id(tier: str) -> str:
    return f"query {tier}ById($id: ID!) {{\n  order(id: $id) {{ ...{tier} }}\n}}"


def _page(tier: str) -> str:
    return (
        f"query StorePage{tier}($store: ID!, $after: String) {{\n"
        f"  orders(filter: {{storeIds: [$store]}}, first: {PAGE}, after: $after) {{\n"
        f"    edges {{ cursor node {{ ...{tier} }} }}\n"
        "    pageInfo { hasNextPage endCursor }\n"
        "  }\n}"
    )


SCENARIOS: list[Scenario] = [
    Scenario("order_summary", "OrderSummaryById", "OrderSummary", "read", _by_id("OrderSummary")),
    Scenario(
        "order_standard", "OrderStandardById", "OrderStandard", "read", _by_id("OrderStandard")
    ),
    Scenario("order_full", "OrderFullById", "OrderFull", "read", _by_id("OrderFull")),
    Scenario(
        "orders50_summary",
        "StorePageOrderSummary",
        "OrderSummary",
        "read",
        _page("OrderSummary"),
    ),
    Scenario("orders50_full", "StorePageOrderFull", "OrderFull", "read", _page("OrderFull")),
    Scenario(
        "by_ids20_standard",
        "OrdersByIdsStandard",
        "OrderStandard",
        "read",
        "query OrdersByIdsStandard($ids: [ID!]!) {\n"
        "  ordersByIds(ids: $ids) { ...OrderStandard }\n}",
    ),
    Scenario(
        "transition",
        "AcceptOrder",
        "OrderSummary",
        "transition",
        "mutation AcceptOrder($id: ID!) {\n"
        "  transitionOrder(input: {orderId: $id, to: ACCEPTED}) {\n"
        "    order { ...OrderSummary }\n"
        "    errors { code message }\n"
        "  }\n}",
    ),
    Scenario(
        "create",
        "CreateOrder",
        "OrderStandard",
        "create",
        "mutation CreateOrder($input: CreateOrderInput!) {\n"
        "  createOrder(input: $input) {\n"
        "    created\n"
        "    order { ...OrderStandard }\n"
        "    errors { code message }\n"
        "  }\n}",
    ),
]
BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}


# --- Request bodies ------------------------------------------------------------------------


def read_bodies(
    scenario: Scenario,
    rng: random.Random,
    last_order_id: int,
    stores: Sequence[str],
    count: int,
) -> list[bytes]:
    """`count` bodies over the seeded orders (ids 1..last_order_id), chosen at random."""
    bodies = []
    for _ in range(count):
        if scenario.name.startswith("order_"):
            variables: dict[str, Any] = {"id": encode_id("Order", rng.randint(1, last_order_id))}
        elif scenario.name.startswith("orders50_"):
            # A store's newest page, or a page further down from a cursor in its history.
            after = None
            if rng.random() < 0.5:
                after = encode_id("OrderCursor", rng.randint(last_order_id // 2, last_order_id))
            variables = {"store": rng.choice(stores), "after": after}
        else:
            picked = rng.sample(range(1, last_order_id + 1), BY_IDS)
            variables = {"ids": [encode_id("Order", n) for n in picked]}
        bodies.append(scenario.body(variables))
    return bodies


def transition_bodies(order_ids: Sequence[int]) -> list[bytes]:
    scenario = BY_NAME["transition"]
    return [scenario.body({"id": encode_id("Order", n)}) for n in order_ids]


def create_input(rng: random.Random, store: str) -> dict[str, Any]:
    from seed import MENU  # the seed's menu, so created orders look like the rest

    items = []
    for sku, name, price, drink in rng.sample(MENU, 5):
        attributes: dict[str, Any] = (
            {"temperature": rng.choice(("hot", "iced")), "sugar": "less"}
            if drink
            else {"warmed": True}
        )
        items.append(
            {
                "skuId": sku,
                "name": name,
                "quantity": rng.choice((1, 1, 1, 2)),
                "unitPrice": f"{price // 100}.{price % 100:02d}",
                "attributes": attributes,
            }
        )
    fulfillment = rng.choice(("PICKUP", "DELIVERY"))
    return {
        "storeId": store,
        "channel": "MINI_PROGRAM",
        "fulfillmentType": fulfillment,
        "customerId": f"cust-{rng.randint(1, 8000):05d}",
        "currency": "CNY",
        "items": items,
        "discounts": [
            {"kind": "COUPON", "code": "WELCOME5", "description": "Coupon", "amount": "5.00"}
        ],
        "deliveryFee": "6.00" if fulfillment == "DELIVERY" else None,
        "packagingFee": "2.00",
        "initialStatus": "PAID",
        "remark": rng.choice((None, "Less ice 少冰", "No sugar")),
        "attributes": {"source": "wechat-mini-program"},
    }


def create_bodies(rng: random.Random, stores: Sequence[str], count: int) -> list[bytes]:
    scenario = BY_NAME["create"]
    return [
        scenario.body({"input": create_input(rng, stores[n % len(stores)])}) for n in range(count)
    ]
