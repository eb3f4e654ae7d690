"""Hostile inputs get a clear, typed error and change nothing; nothing stored breaks a reader."""

from __future__ import annotations

from typing import Any

from order_graph.api import ids
from tests.api.conftest import CREATE, CreateOrder, order_input
from tests.conftest import GraphQLClient

PAGE = "query($n: Int) { orders(first: $n) { edges { cursor } } }"
LIST = "query($s: [ID!]) { orders(filter: {storeIds: $s}) { edges { node { id } } } }"
EVENTS = "query($o: [ID!]) { orderEvents(filter: {orderIds: $o}) { edges { cursor } } }"
UPDATE = """mutation($input: UpdateOrderInput!) { updateOrder(input: $input) {
  order { version } errors { code field message } } }"""


def nested(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = {"a": value}
    return value


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


async def test_a_page_size_past_64_bits_is_a_typed_error(gql: GraphQLClient) -> None:
    body = await gql.raw(PAGE, {"n": 2**63})
    assert "data" not in body  # a request error: execution never started
    assert "non 32-bit signed integer" in body["errors"][0]["message"]
    body = await gql.raw(PAGE, {"n": 2**31 - 1})
    assert codes(body) == ["QUERY_TOO_COSTLY"]


async def test_variables_nested_400_deep_are_refused_even_undeclared(gql: GraphQLClient) -> None:
    for variables in ({"n": 1, "junk": nested(400)}, {"n": nested(400)}):
        body = await gql.raw(PAGE, variables)
        assert body["errors"][0]["message"] == "The variables nest deeper than 64 levels."
        assert codes(body) == ["VALIDATION"]


async def test_a_document_nested_390_deep_is_refused_before_parsing(gql: GraphQLClient) -> None:
    literal = "{a: " * 390 + "1" + "}" * 390
    update = f'updateOrder(input: {{orderId: "x", attributes: {literal}}})'
    query = f"mutation {{ {update} {{ __typename }} }}"
    body = await gql.raw(query)
    assert body["errors"][0]["message"] == "The document nests deeper than 64 levels."
    assert codes(body) == ["VALIDATION"]
    selections = "{ order(id: 1) " + "{ a " * 390 + "}" * 391
    assert codes(await gql.raw(selections)) == ["VALIDATION"]


async def test_a_document_is_bounded_apart_from_the_body(gql: GraphQLClient) -> None:
    """Comments are not tokens: a near-megabyte document of few tokens is refused; a document
    padded to just under the bound is served."""
    padding = "#" + "x" * 899_999 + "\n"
    body = await gql.raw(padding + "{ __typename }")
    assert body["errors"][0]["message"] == "The document is 900015 bytes, over the limit of 32768."
    assert codes(body) == ["VALIDATION"]
    fits = "#" + "x" * 32_000 + "\n{ __typename }"
    assert (await gql.raw(fits))["data"] == {"__typename": "Query"}


async def test_filter_lists_are_bounded_and_counted_in_the_cost(
    gql: GraphQLClient, store_id: str
) -> None:
    one = await gql.raw(LIST, {"s": [store_id]})
    hundred = await gql.raw(LIST, {"s": [store_id] * 100})
    assert hundred["extensions"]["cost"]["requested"] == one["extensions"]["cost"]["requested"] + 99
    refused = await gql.raw(LIST, {"s": [store_id] * 40_000})
    assert refused["errors"][0]["message"] == (
        "orders.filter.storeIds has 40000 entries; at most 100 are allowed."
    )
    assert codes(refused) == ["VALIDATION"]
    order_ids = [ids.encode("Order", n) for n in range(1, 30_001)]
    assert codes(await gql.raw(EVENTS, {"o": order_ids})) == ["VALIDATION"]
    literal = "[" + ", ".join(f'"s{n}"' for n in range(101)) + "]"
    inline = f"{{ orders(filter: {{subStatuses: {literal}}}) {{ edges {{ cursor }} }} }}"
    assert codes(await gql.raw(inline)) == ["VALIDATION"]


async def test_attributes_nested_too_deeply_are_refused_at_write_with_their_field(
    gql: GraphQLClient, create_order: CreateOrder, store_id: str
) -> None:
    deep = nested(40)
    items = order_input(store_id)["items"]
    items[1]["attributes"] = deep
    payload = (await gql.execute(CREATE, {"input": order_input(store_id, items=items)}))[
        "createOrder"
    ]
    assert payload["order"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("VALIDATION", ["input", "items", "1", "attributes"])
    ]
    order = (await create_order(attributes=nested(31)))["order"]
    update = {"orderId": order["id"], "attributes": {"deep": deep}}
    refused = (await gql.execute(UPDATE, {"input": update}))["updateOrder"]
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [
        ("VALIDATION", ["input", "attributes"])
    ]
    # The deepest accepted document reads back on every page that shows it.
    page = await gql.execute(
        "query($s: ID!) { orders(filter: {storeIds: [$s]}) { edges { node { attributes } } } }",
        {"s": store_id},
    )
    assert page["orders"]["edges"][0]["node"]["attributes"] == nested(31)
