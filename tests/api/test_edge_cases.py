"""Edge cases a careful caller (or an attacker) reaches: each answered cleanly."""

from __future__ import annotations

import base64
import time
import uuid

from order_graph.api import ids
from tests.api.conftest import CREATE, CreateOrder, order_input
from tests.conftest import GraphQLClient

HISTORY = """mutation($id: ID!) {
  a: transitionOrder(input: {orderId: $id, to: PAID}) { ...History }
  b: transitionOrder(input: {orderId: $id, to: ACCEPTED}) { ...History }
}
fragment History on OrderPayload { order { version statusHistory { version } } }"""


async def test_a_second_change_in_one_request_shows_the_history_it_made(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    order = (await create_order())["order"]
    data = await gql.execute(HISTORY, {"id": order["id"]})
    assert [h["version"] for h in data["a"]["order"]["statusHistory"]] == [1, 2]
    assert [h["version"] for h in data["b"]["order"]["statusHistory"]] == [1, 2, 3]


async def test_ids_out_of_range_or_with_foreign_digits_are_validation_errors(
    gql: GraphQLClient,
) -> None:
    query = "query($id: ID!) { order(id: $id) { id } }"
    foreign_digits = base64.urlsafe_b64encode("Order:١٢".encode()).decode().rstrip("=")
    for bad in (ids.encode("Order", 10**30), foreign_digits):
        body = await gql.raw(query, {"id": bad})
        assert body["errors"][0]["extensions"] == {"code": "VALIDATION"}, bad


async def test_an_enormous_exponent_is_refused_at_once(gql: GraphQLClient, store_id: str) -> None:
    items = [{"skuId": "x", "name": "X", "quantity": 1, "unitPrice": "1E+999999"}]
    began = time.monotonic()
    payload = (await gql.execute(CREATE, {"input": order_input(store_id, items=items)}))[
        "createOrder"
    ]
    assert time.monotonic() - began < 2
    assert payload["errors"][0]["field"] == ["input", "items", "0", "unitPrice"]


async def test_a_retry_with_the_same_amounts_written_differently_is_the_same_request(
    gql: GraphQLClient, store_id: str
) -> None:
    key = f"k-{uuid.uuid4().hex}"
    first = order_input(store_id)
    second = order_input(store_id)
    second["items"][0]["unitPrice"] = "28.0"  # first has "28.00"
    made = (await gql.execute(CREATE, {"input": first, "key": key}))["createOrder"]
    again = (await gql.execute(CREATE, {"input": second, "key": key}))["createOrder"]
    assert again["errors"] == []
    assert (again["created"], again["order"]["id"]) == (False, made["order"]["id"])


async def test_get_requests_run_no_operation(gql: GraphQLClient) -> None:
    response = await gql.http.get(
        "/graphql", params={"query": "{ mainStatusTransitions { from } }"}
    )
    assert 400 <= response.status_code < 500
    assert "data" not in response.json()
