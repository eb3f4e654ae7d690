"""Shared execution of subscriptions, and waking by store, seen from outside: a real server
process with authentication on, gql subscribers on both websocket protocols, and the server's
own metrics (`order_graph_subscription_executions_total`, `..._deliveries_total`,
`order_graph_subscriber_wakeups_total`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack

import httpx
import pytest

from tests.api.conftest import order_input
from tests.support.clients import LEGACY_WS, TRANSPORT_WS, Events, subscribe
from tests.support.documents import SKINNY
from tests.support.keys import new_client
from tests.support.servers import Server, running_server

pytestmark = pytest.mark.postgres

CREATE = """mutation($input: CreateOrderInput!) {
  createOrder(input: $input) { order { id } errors { code } } }"""
PAY = """mutation($id: ID!) {
  transitionOrder(input: {orderId: $id, to: PAID}) { order { version } errors { code } } }"""
EVERY_VISIBLE = "subscription { orderEvents(fromStart: true) { cursor storeId orderId version } }"


@pytest.fixture(scope="module")
def server(postgres_url: str) -> Iterator[Server]:
    with running_server(postgres_url, ORDER_GRAPH_AUTH="required") as started:
        yield started


@pytest.fixture(scope="module")
def admin(postgres_url: str) -> str:
    return new_client(postgres_url, "admin")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


def a_store() -> str:
    return f"mux-{uuid.uuid4().hex[:8]}"


async def write(
    http: httpx.AsyncClient, server: Server, key: str, query: str, **variables: object
) -> str:
    response = await http.post(
        server.http_url,
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {key}"},
    )
    body = response.json()
    assert "errors" not in body, body
    payload = next(iter(body["data"].values()))
    assert payload["errors"] == [], payload
    return str(payload["order"].get("id", ""))


async def metric(http: httpx.AsyncClient, server: Server, name: str) -> float:
    text = (await http.get(server.http_url.replace("/graphql", "/metrics"))).text
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} is not served")


EXECUTIONS = "order_graph_subscription_executions_total"
DELIVERIES = "order_graph_subscription_deliveries_total"
WAKEUPS = "order_graph_subscriber_wakeups_total"


async def opened(
    stack: AsyncExitStack,
    server: Server,
    key: str,
    query: str,
    variables: dict[str, object] | None = None,
    protocol: str = TRANSPORT_WS,
) -> Events:
    return await stack.enter_async_context(
        subscribe(server.ws_url, query, variables, protocol, key)
    )


async def test_subscribers_of_one_document_share_one_execution_per_event(
    server: Server, admin: str, postgres_url: str, http: httpx.AsyncClient
) -> None:
    store = a_store()
    screen = new_client(postgres_url, "events:read", stores=store)
    order = await write(http, server, admin, CREATE, input=order_input(store))
    executions, deliveries = (
        await metric(http, server, EXECUTIONS),
        await metric(http, server, DELIVERIES),
    )
    variables: dict[str, object] = {"filter": {"storeIds": [store]}, "fromStart": True}
    async with AsyncExitStack() as stack:
        screens = [
            await opened(stack, server, screen, SKINNY, variables, protocol)
            for protocol in (TRANSPORT_WS, TRANSPORT_WS, TRANSPORT_WS, LEGACY_WS)
        ]
        created = await asyncio.gather(*(s.next() for s in screens))
        await write(http, server, admin, PAY, id=order)
        paid = await asyncio.gather(*(s.next() for s in screens))

    assert [e["version"] for e in created] == [1] * 4
    assert [e["version"] for e in paid] == [2] * 4
    assert len({e["cursor"] for e in paid}) == 1
    assert await metric(http, server, DELIVERIES) - deliveries == 8
    assert await metric(http, server, EXECUTIONS) - executions == 2  # one per event, for all four


async def test_callers_who_may_see_different_stores_never_share(
    server: Server, admin: str, postgres_url: str, http: httpx.AsyncClient
) -> None:
    one, two = a_store(), a_store()
    both = new_client(postgres_url, "events:read", stores=f"{one},{two}")
    only_one = new_client(postgres_url, "events:read", stores=one)
    also_only_one = new_client(postgres_url, "events:read", stores=one)  # another client alike
    only_two = new_client(postgres_url, "events:read", stores=two)
    await write(http, server, admin, CREATE, input=order_input(one))
    executions = await metric(http, server, EXECUTIONS)
    variables: dict[str, object] = {"filter": {"storeIds": [one]}, "fromStart": True}
    async with AsyncExitStack() as stack:
        followers = [
            await opened(stack, server, key, SKINNY, variables)
            for key in (both, only_one, also_only_one)
        ]
        events = await asyncio.gather(*(f.next() for f in followers))
    assert {e["storeId"] for e in events} == {one}
    # The same document and variables, the same event: one execution per visibility.
    assert await metric(http, server, EXECUTIONS) - executions == 2

    # Without a filter each caller follows what it may see, and only that.
    await write(http, server, admin, CREATE, input=order_input(two))
    async with AsyncExitStack() as stack:
        first = await opened(stack, server, only_one, EVERY_VISIBLE)
        second = await opened(stack, server, only_two, EVERY_VISIBLE)
        assert (await first.next())["storeId"] == one
        assert (await second.next())["storeId"] == two
        paid = await write(http, server, admin, CREATE, input=order_input(one))
        await write(http, server, admin, CREATE, input=order_input(two))
        assert (await first.next())["orderId"] == paid
        assert (await second.next())["storeId"] == two


async def test_a_subscriber_filtered_by_store_is_not_woken_by_other_stores(
    server: Server, admin: str, postgres_url: str, http: httpx.AsyncClient
) -> None:
    mine, other = a_store(), a_store()
    screen = new_client(postgres_url, "events:read", stores=mine)
    variables: dict[str, object] = {"filter": {"storeIds": [mine]}, "fromStart": True}
    async with subscribe(server.ws_url, SKINNY, variables, key=screen) as events:
        for _ in range(2):  # the second arrives live: the hub follows the log by then
            await write(http, server, admin, CREATE, input=order_input(mine))
            await events.next()
        woken = await metric(http, server, WAKEUPS)
        for _ in range(5):
            await write(http, server, admin, CREATE, input=order_input(other))
        await write(http, server, admin, CREATE, input=order_input(mine))
        assert (await events.next())["storeId"] == mine
        assert await metric(http, server, WAKEUPS) - woken == 1
