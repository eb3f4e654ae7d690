"""GraphQL text for the subgraph tests: the official tiers one at a time, `_entities` queries
and representations."""

from __future__ import annotations

import random
from pathlib import Path

from order_graph.api import ids

FRAGMENTS = (Path(__file__).parents[2] / "fragments.graphql").read_text()
TIERS = ["fragment " + text for text in FRAGMENTS.split("\nfragment ")[1:]]
TIER_NAMES = ["OrderSummary", "OrderStandard", "OrderFull"]


def tier(name: str) -> str:
    """The tier's fragment and those it spreads, and no other: GraphQL refuses unused ones."""
    return "\n".join(TIERS[: TIER_NAMES.index(name) + 1])


def entities(selection: str, variables: str = "") -> str:
    """An `_entities` query as a router sends it, the representations in `$r`."""
    return f"query($r: [_Any!]!{variables}) {{ _entities(representations: $r) {{ {selection} }} }}"


def order_ref(order_id: str) -> dict[str, str]:
    return {"__typename": "Order", "id": order_id}


def missing_order() -> str:
    """The id of an order that does not exist."""
    return ids.encode("Order", 10**15 + random.randrange(10**6))
