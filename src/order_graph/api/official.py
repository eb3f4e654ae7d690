"""The official documents: the three tiers of fragments.graphql, ready to send by id.

Every process knows them without registration. Each is an operation over one tier with the
fragments it spreads, copied from fragments.graphql as written, so its id (the SHA-256 of its
text) changes only when that file or this list does; `order-graph documents list` prints the
ids. A mini-program sends `{"documentId": "sha256:…", "variables": {"id": …}}` instead of the
text of OrderFull.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources

from graphql import FragmentDefinitionNode, FragmentSpreadNode, parse, visit
from graphql.language import Visitor

TIERS = ("OrderSummary", "OrderStandard", "OrderFull")
_OPERATIONS = (
    "query OneOrder{short}($id: ID!) {{\n  order(id: $id) {{ ...{tier} }}\n}}\n",
    "query OrdersByIds{short}($ids: [ID!]!) {{\n  ordersByIds(ids: $ids) {{ ...{tier} }}\n}}\n",
    "query OrderPage{short}($filter: OrderFilter, $first: Int, $after: String) {{\n"
    "  orders(filter: $filter, first: $first, after: $after) {{\n"
    "    edges {{ cursor node {{ ...{tier} }} }}\n"
    "    pageInfo {{ hasNextPage endCursor }}\n"
    "  }}\n}}\n",
)


def document_id(body: str) -> str:
    """The id of a document: the SHA-256 of its text, hex."""
    return hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()


@cache
def official_documents() -> dict[str, str]:
    """Each official document by its id."""
    source = resources.files("order_graph").joinpath("fragments.graphql").read_text()
    fragments = {
        node.name.value: node
        for node in parse(source).definitions
        if isinstance(node, FragmentDefinitionNode)
    }

    def needed(name: str) -> list[str]:
        spreads: list[str] = []

        class Spreads(Visitor):
            def enter_fragment_spread(self, node: FragmentSpreadNode, *_: object) -> None:
                spreads.append(node.name.value)

        visit(fragments[name], Spreads())
        return [name, *(n for spread in spreads for n in needed(spread))]

    found = {}
    for tier in TIERS:
        texts = []
        for name in dict.fromkeys(needed(tier)):  # each once, the tier's own first
            loc = fragments[name].loc
            assert loc is not None
            texts.append(source[loc.start : loc.end] + "\n")
        for operation in _OPERATIONS:
            body = (
                operation.format(tier=tier, short=tier.removeprefix("Order"))
                + "\n"
                + "\n".join(texts)
            )
            found[document_id(body)] = body
    return found
