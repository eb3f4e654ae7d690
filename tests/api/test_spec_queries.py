"""Issue 2, "Queries": order, node, ordersByIds, orders (filters, order, keyset pagination),
and orderNo."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.api.conftest import GET_ORDER, CreateOrder, Transition, define_sub_status
from tests.api.test_spec_support import list_orders, missing_order_id, unique_code
from tests.conftest import FRAGMENTS, GraphQLClient

NODE = FRAGMENTS + "query N($id: ID!) { node(id: $id) { __typename id ...OrderFull } }"
BY_IDS = "query B($ids: [ID!]!) { ordersByIds(ids: $ids) { id orderNo } }"
FIRST_ONLY = "query F($first: Int) { orders(first: $first) { edges { cursor } } }"


async def ids_in(gql: GraphQLClient, filter: dict[str, Any], first: int = 100) -> list[str]:
    connection = await list_orders(gql, filter, first=first)
    return [edge["node"]["id"] for edge in connection["edges"]]


async def make_orders(create_order: CreateOrder, count: int, **overrides: Any) -> list[str]:
    """Creates `count` orders one after another; returns their ids, oldest first."""
    return [(await create_order(**overrides))["order"]["id"] for _ in range(count)]


# --- single lookups --------------------------------------------------------------------------


async def test_order_query_returns_the_order_as_created(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    created = (await create_order(customerId="cust-1", remark="hi"))["order"]
    assert (await gql.execute(GET_ORDER, {"id": created["id"]}))["order"] == created


async def test_order_query_for_a_missing_id_returns_null(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    created = (await create_order())["order"]
    missing = missing_order_id(created["id"])
    assert (await gql.execute(GET_ORDER, {"id": missing}))["order"] is None


async def test_node_resolves_an_order_id_to_the_order(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    created = (await create_order())["order"]
    node = (await gql.execute(NODE, {"id": created["id"]}))["node"]
    assert node == {"__typename": "Order", **created}


async def test_node_for_a_missing_id_returns_null(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    created = (await create_order())["order"]
    assert (await gql.execute(NODE, {"id": missing_order_id(created["id"])}))["node"] is None


async def test_an_item_id_never_resolves_to_an_order(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    created = (await create_order())["order"]
    item_id = created["items"][0]["id"]
    as_order = await gql.raw(GET_ORDER, {"id": item_id})
    assert (as_order.get("data") or {}).get("order") is None, as_order
    as_node = await gql.raw(NODE, {"id": item_id})
    assert (as_node.get("data") or {}).get("node") is None, as_node


async def test_orders_by_ids_keeps_the_requested_order_and_nulls_missing_ones(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    a, b, c = await make_orders(create_order, 3)
    missing = missing_order_id(a)
    result = (await gql.execute(BY_IDS, {"ids": [c, missing, a, b, a]}))["ordersByIds"]
    assert [None if o is None else o["id"] for o in result] == [c, None, a, b, a]


async def test_a_malformed_id_in_orders_by_ids_nulls_only_its_position(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    a, b = await make_orders(create_order, 2)
    for _ in range(2):  # the second time the document's compiled plan is cached
        body = await gql.raw(BY_IDS, {"ids": [a, "not-an-id", b]})
        assert [None if o is None else o["id"] for o in body["data"]["ordersByIds"]] == [a, None, b]
        (error,) = body["errors"]
        assert error["path"] == ["ordersByIds", 1]
        assert error["extensions"]["code"] == "VALIDATION"
        assert "not-an-id" in error["message"]


async def test_orders_by_ids_accepts_100_ids(gql: GraphQLClient, create_order: CreateOrder) -> None:
    ids = await make_orders(create_order, 2)
    requested = (ids * 50)[:100]
    result = (await gql.execute(BY_IDS, {"ids": requested}))["ordersByIds"]
    assert [o["id"] for o in result] == requested


async def test_orders_by_ids_refuses_more_than_100_ids(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    [only] = await make_orders(create_order, 1)
    body = await gql.raw(BY_IDS, {"ids": [only] * 101})
    assert body.get("errors"), body
    assert body.get("data") is None


async def test_orders_by_ids_of_an_empty_list_is_empty(gql: GraphQLClient) -> None:
    assert (await gql.execute(BY_IDS, {"ids": []}))["ordersByIds"] == []


# --- orders: order and filters ---------------------------------------------------------------


async def test_orders_lists_newest_first(
    gql: GraphQLClient, store_id: str, create_order: CreateOrder
) -> None:
    created = await make_orders(create_order, 4)
    assert await ids_in(gql, {"storeIds": [store_id]}) == created[::-1]


async def test_orders_filter_by_store_ids_returns_only_those_stores(
    gql: GraphQLClient, store_id: str, create_order: CreateOrder
) -> None:
    other_store = f"store-{uuid.uuid4().hex[:10]}"
    third_store = f"store-{uuid.uuid4().hex[:10]}"
    mine = await make_orders(create_order, 2)
    theirs = await make_orders(create_order, 2, storeId=other_store)
    await make_orders(create_order, 1, storeId=third_store)
    assert await ids_in(gql, {"storeIds": [other_store]}) == theirs[::-1]
    both = await ids_in(gql, {"storeIds": [store_id, other_store]})
    assert both == [theirs[1], theirs[0], mine[1], mine[0]]
    nodes = (await list_orders(gql, {"storeIds": [other_store]}))["edges"]
    assert {edge["node"]["storeId"] for edge in nodes} == {other_store}


async def test_orders_filter_by_main_statuses(
    gql: GraphQLClient, store_id: str, create_order: CreateOrder, transition: Transition
) -> None:
    created = await make_orders(create_order, 3)
    await transition(created[1], "PAID")
    await transition(created[2], "CANCELLED")
    assert await ids_in(gql, {"storeIds": [store_id], "mainStatuses": ["PAID"]}) == [created[1]]
    both = await ids_in(gql, {"storeIds": [store_id], "mainStatuses": ["CREATED", "CANCELLED"]})
    assert both == [created[2], created[0]]
    assert await ids_in(gql, {"storeIds": [store_id], "mainStatuses": ["COMPLETED"]}) == []


async def test_orders_filter_by_sub_statuses(
    gql: GraphQLClient, store_id: str, create_order: CreateOrder, transition: Transition
) -> None:
    code = unique_code("AT_COUNTER")
    await define_sub_status(gql, "PAID", code)
    created = await make_orders(create_order, 3)
    await transition(created[0], "PAID", subStatus=code)
    await transition(created[1], "PAID")
    assert await ids_in(gql, {"storeIds": [store_id], "subStatuses": [code]}) == [created[0]]


async def test_orders_filter_by_channels(
    gql: GraphQLClient, store_id: str, create_order: CreateOrder
) -> None:
    app = await make_orders(create_order, 1, channel="APP")
    pos = await make_orders(create_order, 1, channel="POS")
    await make_orders(create_order, 1, channel="WEB")
    assert await ids_in(gql, {"storeIds": [store_id], "channels": ["POS"]}) == pos
    assert await ids_in(gql, {"storeIds": [store_id], "channels": ["APP", "POS"]}) == pos + app


async def test_orders_filter_by_customer(
    gql: GraphQLClient, store_id: str, create_order: CreateOrder
) -> None:
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    theirs = await make_orders(create_order, 2, customerId=customer)
    await make_orders(create_order, 1, customerId="someone-else")
    await make_orders(create_order, 1)
    assert await ids_in(gql, {"storeIds": [store_id], "customerId": customer}) == theirs[::-1]
    assert await ids_in(gql, {"customerId": customer}) == theirs[::-1]


async def test_orders_filter_by_creation_time(
    gql: GraphQLClient, store_id: str, create_order: CreateOrder
) -> None:
    orders = [(await create_order())["order"] for _ in range(3)]
    oldest, middle, newest = orders
    assert oldest["createdAt"] < middle["createdAt"] < newest["createdAt"]
    store = {"storeIds": [store_id]}
    after_middle = await ids_in(gql, {**store, "createdAfter": middle["createdAt"]})
    assert newest["id"] in after_middle
    assert oldest["id"] not in after_middle
    before_middle = await ids_in(gql, {**store, "createdBefore": middle["createdAt"]})
    assert oldest["id"] in before_middle
    assert newest["id"] not in before_middle
    window = {**store, "createdAfter": "2000-01-01T00:00:00+00:00"}
    everything = await ids_in(gql, {**window, "createdBefore": "2100-01-01T00:00:00+00:00"})
    assert everything == [o["id"] for o in orders[::-1]]
    assert await ids_in(gql, {**store, "createdAfter": "2100-01-01T00:00:00+00:00"}) == []
    assert await ids_in(gql, {**store, "createdBefore": "2000-01-01T00:00:00+00:00"}) == []


async def test_orders_filters_combine_with_and(
    gql: GraphQLClient, store_id: str, create_order: CreateOrder, transition: Transition
) -> None:
    [paid_app] = await make_orders(create_order, 1, channel="APP", initialStatus="PAID")
    await make_orders(create_order, 1, channel="APP")
    await make_orders(create_order, 1, channel="POS", initialStatus="PAID")
    filter = {"storeIds": [store_id], "channels": ["APP"], "mainStatuses": ["PAID"]}
    assert await ids_in(gql, filter) == [paid_app]


async def test_orders_of_an_empty_store_is_an_empty_page(gql: GraphQLClient, store_id: str) -> None:
    connection = await list_orders(gql, {"storeIds": [store_id]})
    assert connection["edges"] == []
    assert connection["pageInfo"]["hasNextPage"] is False


# --- orders: pagination ----------------------------------------------------------------------


async def test_orders_default_page_is_20(
    gql: GraphQLClient, store_id: str, create_order: CreateOrder
) -> None:
    await make_orders(create_order, 21)
    connection = await list_orders(gql, {"storeIds": [store_id]})
    assert len(connection["edges"]) == 20
    assert connection["pageInfo"]["hasNextPage"] is True


async def test_pagination_walks_every_order_once_while_new_ones_arrive(
    gql: GraphQLClient, store_id: str, create_order: CreateOrder
) -> None:
    created = await make_orders(create_order, 5)  # oldest first
    store = {"storeIds": [store_id]}
    page1 = await list_orders(gql, store, first=2)
    assert [e["node"]["id"] for e in page1["edges"]] == [created[4], created[3]]
    assert page1["pageInfo"]["hasNextPage"] is True
    assert page1["pageInfo"]["endCursor"] == page1["edges"][-1]["cursor"]

    await make_orders(create_order, 2)  # arrive between pages: must not shift the walk

    page2 = await list_orders(gql, store, first=2, after=page1["pageInfo"]["endCursor"])
    assert [e["node"]["id"] for e in page2["edges"]] == [created[2], created[1]]
    assert page2["pageInfo"]["hasNextPage"] is True

    await make_orders(create_order, 1)

    page3 = await list_orders(gql, store, first=2, after=page2["pageInfo"]["endCursor"])
    assert [e["node"]["id"] for e in page3["edges"]] == [created[0]]
    assert page3["pageInfo"]["hasNextPage"] is False


async def test_pagination_of_an_exact_multiple_ends_without_a_next_page(
    gql: GraphQLClient, store_id: str, create_order: CreateOrder
) -> None:
    created = await make_orders(create_order, 4)
    store = {"storeIds": [store_id]}
    page1 = await list_orders(gql, store, first=2)
    page2 = await list_orders(gql, store, first=2, after=page1["pageInfo"]["endCursor"])
    walked = [e["node"]["id"] for e in page1["edges"] + page2["edges"]]
    assert walked == created[::-1]
    assert page2["pageInfo"]["hasNextPage"] is False


async def test_pagination_with_a_filter_pages_through_matches_only(
    gql: GraphQLClient, store_id: str, create_order: CreateOrder
) -> None:
    pos = []
    for n in range(6):
        order = (await create_order(channel="POS" if n % 2 == 0 else "APP"))["order"]
        if n % 2 == 0:
            pos.append(order["id"])
    filter = {"storeIds": [store_id], "channels": ["POS"]}
    page1 = await list_orders(gql, filter, first=2)
    page2 = await list_orders(gql, filter, first=2, after=page1["pageInfo"]["endCursor"])
    walked = [e["node"]["id"] for e in page1["edges"] + page2["edges"]]
    assert walked == pos[::-1]
    assert page2["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize("first", [0, -1, 101, 1000])
async def test_orders_first_outside_1_to_100_is_a_graphql_error(
    gql: GraphQLClient, first: int
) -> None:
    body = await gql.raw(FIRST_ONLY, {"first": first})
    assert body.get("errors"), body
    assert body.get("data") is None


@pytest.mark.parametrize("first", [1, 100])
async def test_orders_first_at_the_bounds_is_accepted(gql: GraphQLClient, first: int) -> None:
    body = await gql.raw(FIRST_ONLY, {"first": first})
    assert "errors" not in body, body
    assert len(body["data"]["orders"]["edges"]) <= first


async def test_orders_with_a_made_up_cursor_is_a_graphql_error(gql: GraphQLClient) -> None:
    query = '{ orders(after: "not-a-cursor") { edges { cursor } } }'
    body = await gql.raw(query)
    assert body.get("errors"), body


# --- orderNo ---------------------------------------------------------------------------------


async def test_order_numbers_are_unique_and_human_readable(
    gql: GraphQLClient, create_order: CreateOrder
) -> None:
    numbers = [(await create_order())["order"]["orderNo"] for _ in range(25)]
    assert len(set(numbers)) == 25
    for number in numbers:
        assert re.fullmatch(r"[A-Za-z0-9-]{4,32}", number), number
        assert re.search(r"\d", number), number


async def test_order_number_differs_across_stores_and_never_changes(
    gql: GraphQLClient, create_order: CreateOrder, transition: Transition
) -> None:
    one = (await create_order())["order"]
    two = (await create_order(storeId=f"store-{uuid.uuid4().hex[:10]}"))["order"]
    assert one["orderNo"] != two["orderNo"]
    paid = (await transition(one["id"], "PAID"))["order"]
    assert paid["orderNo"] == one["orderNo"]
