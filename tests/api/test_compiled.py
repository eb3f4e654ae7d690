"""The compiled path and the fast lane answer exactly as the standard executor does, byte for
byte, errors included; and they do answer (a fallback to the executor would give the same
bytes, so the metric of compiled answers tells)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from graphql import parse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from starlette.testclient import TestClient

from order_graph.api import ids
from order_graph.api.compiled import PlanCache, compile_plan
from order_graph.api.schema import build_schema
from order_graph.app import create_app
from order_graph.config import Settings
from tests.api.conftest import CREATE, DEFINE_SUB_STATUS, TRANSITION, order_input
from tests.api.items_support import cancel_items, change_items
from tests.conftest import FRAGMENTS, GraphQLClient

# The tier fragments, each of which spreads the one before it.
TIERS = ["fragment " + text for text in FRAGMENTS.split("\nfragment ")[1:]]
TIER_NAMES = ["OrderSummary", "OrderStandard", "OrderFull"]
MONEY = ["amount", "currency", "__typename"]
ORDER_SCALARS = [
    "id", "orderNo", "version", "storeId", "channel", "customerId", "fulfillmentType",
    "mainStatus", "subStatus", "allowedTransitions", "currency", "remark", "attributes",
    "createdAt", "updatedAt", "__typename",
]  # fmt: skip
ORDER_MONEY = [
    "itemsTotal", "discountTotal", "deliveryFee", "packagingFee", "payableTotal", "refundedTotal",
]  # fmt: skip
ITEM = [
    "id", "skuId", "name", "quantity", "attributes", "cancelledQuantity", "activeQuantity",
    "__typename",
]  # fmt: skip
DISCOUNT = ["id", "kind", "code", "description", "itemId", "fundedBy", "__typename"]
HISTORY = [
    "fromMainStatus", "toMainStatus", "fromSubStatus", "toSubStatus", "reason", "actor",
    "occurredAt", "version", "__typename",
]  # fmt: skip
CHANGE = ["kind", "version", "reason", "actor", "occurredAt", "__typename"]
CHANGE_LINE = [
    "itemId", "skuId", "name", "quantityBefore", "quantityAfter", "cancelledQuantity",
    "__typename",
]  # fmt: skip
CHANGE_DISCOUNT = ["kind", "code", "description", "itemId", "fundedBy", "__typename"]


def pick(names: list[str]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(names), min_size=1, max_size=len(names))


def aliased(name: str) -> st.SearchStrategy[str]:
    """The field as it is or under an alias; an alias names one field only, so never conflicts."""
    prefixes = st.sampled_from(["a_", "b_"])
    return st.one_of(st.just(name), prefixes.map(lambda prefix: f"{prefix}{name}: {name}"))


@st.composite
def money(draw: st.DrawFn, name: str) -> str:
    return f"{draw(aliased(name))} {{ {' '.join(draw(pick(MONEY)))} }}"


@st.composite
def line(draw: st.DrawFn, name: str, scalars: list[str], money_fields: list[str]) -> str:
    parts = draw(pick(scalars))
    if money_fields:
        parts += [draw(money(m)) for m in draw(st.lists(st.sampled_from(money_fields), max_size=2))]
    return f"{draw(aliased(name))} {{ {' '.join(parts)} }}"


@st.composite
def changes(draw: st.DrawFn) -> str:
    parts = draw(pick(CHANGE))
    if draw(st.booleans()):
        parts.append(draw(line("lines", CHANGE_LINE, ["unitPrice"])))
    if draw(st.booleans()):
        parts.append(draw(line("discounts", CHANGE_DISCOUNT, ["amount"])))
    if draw(st.booleans()):
        parts.append(draw(money("refundAmount")))
    return f"{draw(aliased('changes'))} {{ {' '.join(draw(st.permutations(parts)))} }}"


@st.composite
def order_selection(draw: st.DrawFn) -> str:
    parts: list[str] = [draw(aliased(f)) for f in draw(pick(ORDER_SCALARS))]
    parts += [draw(money(m)) for m in draw(st.lists(st.sampled_from(ORDER_MONEY), max_size=3))]
    if draw(st.booleans()):
        parts.append(draw(line("items", ITEM, ["unitPrice", "lineTotal"])))
    if draw(st.booleans()):
        parts.append(draw(line("discounts", DISCOUNT, ["amount"])))
    if draw(st.booleans()):
        parts.append(draw(line("statusHistory", HISTORY, [])))
    if draw(st.booleans()):
        parts.append(draw(changes()))
    if draw(st.booleans()):
        parts.append("externalRef { platform orderId }")
    if draw(st.booleans()):  # fragments and merging with the published tiers
        parts.append(draw(st.sampled_from(["...OrderSummary", "...OrderStandard", "...OrderFull"])))
    parts = draw(st.permutations(parts))
    if draw(st.booleans()):  # some of it inside an inline fragment
        half = len(parts) // 2 or 1
        parts = [f"... on Order {{ {' '.join(parts[:half])} }}", *parts[half:]]
    return " ".join(parts)


@st.composite
def documents(draw: st.DrawFn) -> str:
    selection = draw(order_selection())
    root = draw(
        st.sampled_from(
            [
                "order(id: $id) { %s }",
                "ordersByIds(ids: [$id, $missing, $id]) { %s }",
                "orders(filter: {storeIds: [$store]}, first: $first) {"
                " edges { cursor node { %s } } pageInfo { hasNextPage endCursor } __typename }",
                "orders(filter: {storeIds: [$store]}, first: $first, after: $after) {"
                " pageInfo { endCursor } edges { node { %s } } }",
                'orderByExternalRef(platform: "meituan", orderId: $ref) { %s }',
                "__typename",
            ]
        )
    )
    body = root % selection if "%s" in root else root
    extra = " __typename" if draw(st.booleans()) else ""
    fragments = "\n".join(
        TIERS[: max((n for n, tier in enumerate(TIER_NAMES, 1) if f"...{tier}" in body), default=0)]
    )
    types = {"id": "ID!", "missing": "ID!", "store": "ID!", "first": "Int", "after": "String"}
    types["ref"] = "String!"
    declared = ", ".join(f"${name}: {kind}" for name, kind in types.items() if f"${name}" in body)
    return f"{fragments}\nquery Q{f'({declared})' if declared else ''} {{ {body}{extra} }}"


async def change_some_items(gql: GraphQLClient, n: int, order: dict[str, Any]) -> None:
    """Item changes of every kind: a cancellation with re-allocated discounts (the order the
    queries ask for by id), an edit before payment, a cancellation of everything."""
    first, second = (item["id"] for item in order["items"])
    if n == 0:
        payload = await cancel_items(
            gql,
            orderId=order["id"],
            lines=[{"itemId": first, "quantity": 1}],
            reason="Out of stock",
            refundAmount="26.00",
            discounts=[{"kind": "COUPON", "amount": "3.50", "itemIndex": 0, "code": "C1"}],
        )
    elif n == 1:
        payload = await change_items(
            gql,
            orderId=order["id"],
            add=[{"skuId": "tea", "name": "Tea", "quantity": 2, "unitPrice": "9.90"}],
            quantities=[{"itemId": second, "quantity": 0}],
            discounts=[{"kind": "PROMOTION", "amount": "2.00", "itemIndex": 1}],
        )
    elif n == 2:
        lines = [{"itemId": first, "quantity": 2}, {"itemId": second, "quantity": 1}]
        payload = await cancel_items(
            gql, orderId=order["id"], lines=lines, reason="Closed", refundAmount="71.00"
        )
    else:
        return
    assert payload["errors"] == []


class World:
    def __init__(self, variables: dict[str, Any]) -> None:
        self.variables = variables


@pytest.fixture
async def world(gql: GraphQLClient, store_id: str) -> World:
    """Orders with every kind of data: discounts on an item and the order, sub-statuses,
    history, an external reference, attributes and a remark."""
    code = f"S_{uuid.uuid4().hex[:8].upper()}"
    await gql.execute(DEFINE_SUB_STATUS, {"input": {"mainStatus": "ACCEPTED", "code": code}})
    discounts = [
        {"kind": "COUPON", "amount": "1.00", "itemIndex": 1, "code": "C1", "fundedBy": "MERCHANT"},
        {"kind": "PROMOTION", "amount": "2.50", "description": "Happy hour"},
    ]
    first = None
    ref = f"mt-{uuid.uuid4().hex}"
    for n in range(4):
        extra: dict[str, Any] = {
            "discounts": discounts,
            "remark": f"note {n}",
            "attributes": {"n": n},
        }
        if n == 0:
            extra["externalRef"] = {"platform": "meituan", "orderId": ref}
        order = (await gql.execute(CREATE, {"input": order_input(store_id, **extra)}))[
            "createOrder"
        ]["order"]
        first = first or order["id"]
        if n % 2 == 0:
            for target, sub in (("PAID", None), ("ACCEPTED", code)):
                move = {"orderId": order["id"], "to": target, "subStatus": sub}
                await gql.execute(TRANSITION, {"input": move})
        await change_some_items(gql, n, order)
    return World(
        {
            "id": first,
            "missing": ids.encode("Order", 10**12),
            "store": store_id,
            "first": 2,
            "after": None,
            "ref": ref,
        }
    )


@pytest.fixture
def clients(database_url: str) -> Any:
    compiled = create_app(Settings(database_url=database_url, auth="off"))
    standard = create_app(Settings(database_url=database_url, auth="off", compiled_queries=False))
    with TestClient(compiled) as fast, TestClient(standard) as slow:
        yield fast, slow


VARIANTS = st.sampled_from(
    [
        {},
        {},
        {},
        {},
        {"first": 1},
        {"first": 100},
        {"first": 0},  # an error: both paths must report it alike
        {"first": None},
        {"id": "not-an-id"},
        {"id": ids.encode("Order", 10**12)},
        {"after": "bogus"},
        {"ref": "nope"},
    ]
)


NEW_FIELDS = ("changes", "refundAmount", "refundedTotal", "cancelledQuantity", "activeQuantity")


def compiled(outcome: str) -> float:
    """How many queries the compiled path answered, refused or failed on, so far."""
    found = REGISTRY.get_sample_value("order_graph_compiled_queries_total", {"outcome": outcome})
    return found or 0.0


def test_generated_selections_answer_identically(world: World, clients: Any) -> None:
    fast, slow = clients
    answered = []
    failures_before = compiled("failed")
    covered: set[str] = set()

    @settings(
        max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(document=documents(), variant=VARIANTS)
    def check(document: str, variant: dict[str, Any]) -> None:
        payload = {"query": document, "variables": {**world.variables, **variant}}
        expected = slow.post("/graphql", json=payload)
        before = compiled("answered")
        # The first request enters the plan cache; the second takes the fast lane.
        for actual in (fast.post("/graphql", json=payload), fast.post("/graphql", json=payload)):
            assert actual.status_code == expected.status_code
            assert actual.content == expected.content, document
        if "errors" not in expected.json():  # then both requests took the compiled path
            assert compiled("answered") - before == 2, document
            covered.update(name for name in NEW_FIELDS if name in document)
        answered.append(expected.json().get("data") is not None)

    check()
    assert sum(answered) > len(answered) / 2  # most examples are answered, not refused
    assert compiled("failed") == failures_before
    assert covered == set(NEW_FIELDS)  # the item changes' fields were answered compiled


def test_a_root_typename_is_answered_by_the_compiled_path_without_warnings(
    clients: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fast, _ = clients
    before = compiled("answered")
    with caplog.at_level(logging.WARNING):
        for query in ("{ __typename }", "query Health { __typename }", "{ t: __typename }"):
            for _ in range(2):
                response = fast.post("/graphql", json={"query": query})
                assert "errors" not in response.json()
                assert set(response.json()["data"].values()) == {"Query"}
    assert compiled("answered") - before == 6
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_mutations_and_uncompilable_queries_never_evict_a_plan() -> None:
    query_type = build_schema()._schema.query_type
    assert query_type is not None
    cache = PlanCache(size=8)
    read = "query Cached { orders(first: 1) { edges { cursor } } }"
    assert cache.enter(read, None, parse(read), query_type) is not None
    for n in range(50):
        define = f'defineSubStatus(input: {{mainStatus: PAID, code: "X{n}"}})'
        mutation = f"mutation {{ {define} {{ errors {{ code }} }} }}"
        uncompilable = f"{{ t{n}: mainStatusTransitions {{ to }} }}"
        for text in (mutation, uncompilable):
            assert cache.enter(text, None, parse(text), query_type) is None
    assert cache.get(read, None) is not None


@pytest.mark.parametrize(
    "root",
    [
        "order(id: $id) { ...OrderFull }",
        "ordersByIds(ids: [$id]) { ...OrderStandard }",
        "orders(first: 50) { edges { cursor node { ...OrderFull } } pageInfo { hasNextPage } }",
        'orderByExternalRef(platform: "p", orderId: "o") { ...OrderSummary }',
    ],
)
def test_the_tiers_are_compiled(root: str) -> None:
    document = parse(FRAGMENTS + f"\nquery($id: ID!) {{ {root} }}")
    query_type = build_schema()._schema.query_type
    assert query_type is not None
    assert compile_plan(document, None, query_type) is not None


def test_directives_and_other_roots_are_left_to_the_executor() -> None:
    query_type = build_schema()._schema.query_type
    assert query_type is not None
    for text in (
        "query($id: ID!, $s: Boolean!) { order(id: $id) { id @include(if: $s) } }",
        "{ mainStatusTransitions { from to } }",
        "{ orderEvents { edges { cursor } } }",
        'mutation { defineSubStatus(input: {mainStatus: PAID, code: "X"}) { errors { code } } }',
    ):
        assert compile_plan(parse(text), None, query_type) is None
