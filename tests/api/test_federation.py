"""The federation subgraph at /subgraph: entities by representation, in batches, and the
`orders` of stores and customers, which are `Query.orders` narrowed to them."""

from __future__ import annotations

import random
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from order_graph.api import ids
from order_graph.storage.database import Database
from tests.api.conftest import CreateOrder, StatementCounter, order_input
from tests.conftest import GraphQLClient
from tests.support.subgraph import entities, missing_order, order_ref, tier

ROOT = Path(__file__).parents[2]
PAGE = ", $filter: OrderFilter, $first: Int, $after: String"


def orders_of(entity: str) -> str:
    return tier("OrderFull") + entities(
        f"""... on {entity} {{ id orders(filter: $filter, first: $first, after: $after) {{
          edges {{ cursor node {{ ...OrderFull }} }} pageInfo {{ hasNextPage endCursor }} }} }}""",
        PAGE,
    )


LIST = (
    tier("OrderFull")
    + """
query($filter: OrderFilter, $first: Int, $after: String) {
  orders(filter: $filter, first: $first, after: $after) {
    edges { cursor node { ...OrderFull } } pageInfo { hasNextPage endCursor } }
}"""
)


class SubgraphClient(GraphQLClient):
    """What a router does: POSTs to the subgraph's own endpoint."""

    async def raw(
        self, query: str, variables: dict[str, Any] | None = None, **headers: str
    ) -> dict[str, Any]:
        response = await self.http.post(
            "/subgraph",
            json={"query": query, "variables": variables or {}},
            headers={"X-Client-Id": self.client_id, **headers},
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def subgraph(gql: GraphQLClient) -> SubgraphClient:
    return SubgraphClient(gql.http)


async def test_100_order_representations_cost_at_most_2_statements(
    subgraph: SubgraphClient,
    gql: GraphQLClient,
    create_order: CreateOrder,
    statements: StatementCounter,
) -> None:
    made = [(await create_order())["order"]["id"] for _ in range(100)]
    random.shuffle(made)
    query = tier("OrderStandard") + entities("... on Order { ...OrderStandard }")

    statements.count = 0
    found = await subgraph.execute(query, {"r": [order_ref(i) for i in made]})

    assert 1 <= statements.count <= 2
    direct = (
        tier("OrderStandard")
        + "query($ids: [ID!]!) { ordersByIds(ids: $ids) { ...OrderStandard } }"
    )
    assert found["_entities"] == (await gql.execute(direct, {"ids": made}))["ordersByIds"]
    statements.count = 0
    full = tier("OrderFull") + entities("... on Order { ...OrderFull }")
    await subgraph.execute(full, {"r": [order_ref(i) for i in made]})
    assert statements.count <= 5  # and the discounts, the status history and the changes: one each


async def test_each_representation_gets_its_entity_in_order_and_null_for_a_missing_order(
    subgraph: SubgraphClient, create_order: CreateOrder, store_id: str
) -> None:
    first = (await create_order(customerId="cust-1"))["order"]["id"]
    second = (await create_order())["order"]["id"]
    representations = [
        order_ref(first),
        order_ref(missing_order()),
        {"__typename": "Store", "id": store_id},
        order_ref(second),
        {"__typename": "Customer", "id": "cust-1"},
    ]
    query = entities(
        "__typename ... on Order { id store { id } customer { id } } "
        "... on Store { id } ... on Customer { id }"
    )

    body = await subgraph.raw(query, {"r": representations})

    assert "errors" not in body
    assert body["data"]["_entities"] == [
        {
            "__typename": "Order",
            "id": first,
            "store": {"id": store_id},
            "customer": {"id": "cust-1"},
        },
        None,
        {"__typename": "Store", "id": store_id},
        {"__typename": "Order", "id": second, "store": {"id": store_id}, "customer": None},
        {"__typename": "Customer", "id": "cust-1"},
    ]


@pytest.mark.parametrize(
    ("representation", "message"),
    [
        ({"__typename": "Order", "id": "not-an-id"}, "Not an order id"),
        ({"__typename": "Order", "id": ids.encode("OrderItem", 1)}, "Not an order id"),
        ({"__typename": "Order"}, "needs its key"),
        ({"__typename": "Order", "id": 7}, "needs its key"),
        ({"__typename": "Money", "id": "x"}, "Not an entity of this subgraph"),
        ({"id": "x"}, "Not an entity of this subgraph"),
        ("Order:1", "A representation is an object"),
    ],
)
async def test_a_malformed_representation_is_a_validation_error_at_its_own_path(
    subgraph: SubgraphClient, create_order: CreateOrder, representation: Any, message: str
) -> None:
    good = (await create_order())["order"]["id"]

    body = await subgraph.raw(
        entities("... on Order { id }"), {"r": [order_ref(good), representation]}
    )

    assert body["data"]["_entities"] == [{"id": good}, None]
    [error] = body["errors"]
    assert error["path"] == ["_entities", 1]
    assert error["extensions"]["code"] == "VALIDATION"
    assert message in error["message"]


FILTERS: list[dict[str, Any] | None] = [
    None,
    {"mainStatuses": ["PAID"]},
    {"channels": ["POS", "APP"], "mainStatuses": ["CREATED", "PAID"]},
]


async def _orders_in_two_stores(create_order: CreateOrder, store_id: str, customer: str) -> None:
    other_store = store_id + "-b"
    for index in range(7):  # each store and the customer have PAID and CREATED orders
        await create_order(
            storeId=store_id if index % 3 else other_store,
            customerId=customer if index % 2 else f"{customer}-x",
            channel="POS" if index % 2 else "APP",
            initialStatus="PAID" if index % 3 == 1 else "CREATED",
        )


async def _every_page(client: GraphQLClient, query: str, variables: dict[str, Any], at: Any) -> Any:
    pages, after = [], None
    while True:
        page = at(await client.execute(query, {**variables, "first": 2, "after": after}))
        pages.append(page)
        if not page["pageInfo"]["hasNextPage"]:
            return pages
        after = page["pageInfo"]["endCursor"]


@pytest.mark.parametrize("filter", FILTERS)
async def test_a_stores_orders_are_query_orders_narrowed_to_the_store(
    subgraph: SubgraphClient,
    gql: GraphQLClient,
    create_order: CreateOrder,
    store_id: str,
    filter: dict[str, Any] | None,
) -> None:
    await _orders_in_two_stores(create_order, store_id, f"cust-{uuid.uuid4().hex[:8]}")
    store = [{"__typename": "Store", "id": store_id}]

    via_store = await _every_page(
        subgraph,
        orders_of("Store"),
        {"r": store, "filter": filter},
        lambda data: data["_entities"][0]["orders"],
    )

    narrowed = {**(filter or {}), "storeIds": [store_id]}
    direct = await _every_page(gql, LIST, {"filter": narrowed}, lambda data: data["orders"])
    assert via_store == direct
    assert direct[0]["edges"]


@pytest.mark.parametrize("filter", FILTERS)
async def test_a_customers_orders_are_query_orders_narrowed_to_the_customer(
    subgraph: SubgraphClient,
    gql: GraphQLClient,
    create_order: CreateOrder,
    store_id: str,
    filter: dict[str, Any] | None,
) -> None:
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    await _orders_in_two_stores(create_order, store_id, customer)

    via_customer = await _every_page(
        subgraph,
        orders_of("Customer"),
        {"r": [{"__typename": "Customer", "id": customer}], "filter": filter},
        lambda data: data["_entities"][0]["orders"],
    )

    narrowed = {**(filter or {}), "customerId": customer}
    direct = await _every_page(gql, LIST, {"filter": narrowed}, lambda data: data["orders"])
    assert via_customer == direct
    assert direct[0]["edges"]


async def test_a_filter_that_names_another_store_or_customer_finds_nothing(
    subgraph: SubgraphClient, create_order: CreateOrder, store_id: str
) -> None:
    await create_order(customerId="cust-someone")
    query = entities(
        '... on Store { orders(filter: {storeIds: ["elsewhere"]}) { edges { cursor } } } '
        '... on Customer { orders(filter: {customerId: "someone-else"}) { edges { cursor } } }'
    )
    representations = [
        {"__typename": "Store", "id": store_id},
        {"__typename": "Customer", "id": "cust-someone"},
    ]

    found = await subgraph.execute(query, {"r": representations})

    assert found["_entities"] == [{"orders": {"edges": []}}, {"orders": {"edges": []}}]


async def test_a_stores_orders_check_their_arguments_as_query_orders_does(
    subgraph: SubgraphClient, gql: GraphQLClient, store_id: str
) -> None:
    for first, after in ((0, None), (101, None), (5, "not-a-cursor")):
        arguments = {"first": first, "after": after}
        via_store = await subgraph.raw(
            orders_of("Store"), {"r": [{"__typename": "Store", "id": store_id}], **arguments}
        )
        direct = await gql.raw(LIST, arguments)
        assert [e["message"] for e in via_store["errors"]] == [
            e["message"] for e in direct["errors"]
        ]
        assert {e["extensions"]["code"] for e in via_store["errors"]} == {"VALIDATION"}


async def test_the_subgraph_answers_the_public_queries_as_the_public_endpoint_does(
    subgraph: SubgraphClient, gql: GraphQLClient, create_order: CreateOrder, store_id: str
) -> None:
    for _ in range(3):
        await create_order()
    variables = {"filter": {"storeIds": [store_id]}, "first": 2, "after": None}
    for _ in range(2):  # the second time through the compiled path's cache
        assert await subgraph.raw(LIST, variables) == await gql.raw(LIST, variables)


async def test_every_operation_that_returns_an_order_can_follow_its_references(
    subgraph: SubgraphClient, store_id: str
) -> None:
    references = "id store { id } customer { id }"
    created = await subgraph.execute(
        f"""mutation($input: CreateOrderInput!) {{
          createOrder(input: $input) {{ order {{ {references} }} errors {{ code }} }} }}""",
        {"input": order_input(store_id, customerId="cust-9")},
    )
    order = created["createOrder"]["order"]
    found = await subgraph.execute(
        f"""query($id: ID!) {{ node(id: $id) {{ ... on Order {{ {references} }} }}
          order(id: $id) {{ {references} }} ordersByIds(ids: [$id]) {{ {references} }} }}""",
        {"id": order["id"]},
    )

    assert order == {"id": order["id"], "store": {"id": store_id}, "customer": {"id": "cust-9"}}
    assert found == {"node": order, "order": order, "ordersByIds": [order]}


async def test_the_cost_counts_every_representation(
    subgraph: SubgraphClient, create_order: CreateOrder, statements: StatementCounter
) -> None:
    order = (await create_order())["order"]["id"]
    query = tier("OrderFull") + entities("... on Order { ...OrderFull }")

    one = await subgraph.raw(query, {"r": [order_ref(order)]})
    ten = await subgraph.raw(query, {"r": [order_ref(order)] * 10})
    statements.count = 0
    refused = await subgraph.raw(query, {"r": [order_ref(order)] * 500})

    per_order = one["extensions"]["cost"]["requested"] - 1  # 1: the _entities field itself
    assert ten["extensions"]["cost"]["requested"] == 1 + 10 * per_order
    assert "data" not in refused  # refused before execution: no data entry
    assert refused["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert statements.count == 0


async def test_service_serves_the_committed_subgraph_schema(subgraph: SubgraphClient) -> None:
    found = await subgraph.execute("{ _service { sdl } }")
    committed = (ROOT / "subgraph.graphql").read_text()
    assert found["_service"]["sdl"] + "\n" == committed
    response = await subgraph.http.get("/subgraph.graphql")
    assert response.text == committed


async def test_the_public_endpoint_keeps_the_public_schema(gql: GraphQLClient) -> None:
    body = await gql.raw("{ _service { sdl } }")
    assert "Cannot query field '_service'" in body["errors"][0]["message"]
    response = await gql.http.get("/schema.graphql")
    assert response.text == (ROOT / "schema.graphql").read_text()


async def test_subscriptions_are_not_served_by_the_subgraph(subgraph: SubgraphClient) -> None:
    body = await subgraph.raw("subscription { orderEvents { cursor } }")
    assert "data" not in body  # refused before execution: no data entry
    assert "errors" in body


async def test_no_statement_binds_more_than_5000_order_ids(
    subgraph: SubgraphClient, db: Database
) -> None:
    """PostgreSQL binds at most 32,767 parameters per statement, and a router may send many
    more representations than a page holds."""
    bound: list[int] = []

    def count(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        bound.append(len(parameters))

    wanted = [order_ref(ids.encode("Order", 10**15 + n)) for n in range(2 * 5_000 + 1)]
    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        found = await subgraph.execute(entities("... on Order { id }"), {"r": wanted})
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)

    assert found["_entities"] == [None] * len(wanted)
    assert sorted(bound) == [1, 5_000, 5_000]
