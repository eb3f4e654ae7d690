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
from gql import GraphQLRequest

from tests.api.conftest import order_input
from tests.support.clients import (
    LEGACY_WS,
    TRANSPORT_WS,
    Events,
    subscribe,
    subscription,
    ws_session,
)
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


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_members_of_a_cohort_on_one_socket_each_get_their_own_events_until_they_stop(
    server: Server, admin: str, postgres_url: str, http: httpx.AsyncClient, protocol: str
) -> None:
    # Shared events go out as ready-made frames with each operation's id spliced in: two
    # operations of one cohort on one socket must each get every event once, under its own
    # id, and stopping one must leave the other (and its frames) as they were.
    store = a_store()
    screen = new_client(postgres_url, "events:read", stores=store)
    order = await write(http, server, admin, CREATE, input=order_input(store))
    variables: dict[str, object] = {"filter": {"storeIds": [store]}, "fromStart": True}
    async with (
        ws_session(server.ws_url, screen, protocol) as session,
        subscription(session, SKINNY, **variables) as staying,
    ):
        async with subscription(session, SKINNY, **variables) as leaving:
            assert [(await s.next())["version"] for s in (staying, leaving)] == [1, 1]
            await write(http, server, admin, CREATE, input=order_input(store))
            await write(http, server, admin, PAY, id=order)
            both = [await s.take(2) for s in (staying, leaving)]
            assert both[0] == both[1]
            assert [e["version"] for e in both[0]] == [1, 2]
        for _ in range(2):  # each exactly once: nothing of the stopped one's comes here
            later = await write(http, server, admin, CREATE, input=order_input(store))
            event = await staying.next()
            assert (event["orderId"], event["version"]) == (later, 1)


async def test_a_shared_event_carries_what_the_first_result_of_the_operation_did(
    server: Server, admin: str, postgres_url: str, http: httpx.AsyncClient
) -> None:
    # The first result takes strawberry's path; the later ones, ready-made, must not differ
    # from it but by their data (the operation's `extensions`: its cost, are kept).
    store = a_store()
    screen = new_client(postgres_url, "events:read", stores=store)
    await write(http, server, admin, CREATE, input=order_input(store))
    variables: dict[str, object] = {"filter": {"storeIds": [store]}, "fromStart": True}
    request = GraphQLRequest(SKINNY, variable_values=variables)
    async with ws_session(server.ws_url, screen) as session:
        results = session.subscribe(request, get_execution_result=True)
        try:
            first = await asyncio.wait_for(anext(results), 10)
            for _ in range(2):
                await write(http, server, admin, CREATE, input=order_input(store))
            later = [await asyncio.wait_for(anext(results), 10) for _ in range(2)]
        finally:
            await results.aclose()
    assert first.extensions
    assert first.data is not None
    assert [r.extensions for r in later] == [first.extensions] * 2
    assert [r.errors for r in later] == [None, None]
    assert [set(r.data["orderEvents"]) for r in later if r.data] == [
        set(first.data["orderEvents"])
    ] * 2
