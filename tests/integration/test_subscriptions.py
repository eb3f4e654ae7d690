"""Change events over real websockets, through gql, across real server processes sharing
PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from gql.transport.exceptions import TransportConnectionFailed

from order_graph.events.listener import APPLICATION_NAME, asyncpg_dsn
from tests.api.conftest import CREATE, TRANSITION, order_input
from tests.support.clients import (
    LEGACY_WS,
    close_code,
    execute,
    subscribe,
)
from tests.support.clients import ws_session as session
from tests.support.documents import FAT, SKINNY
from tests.support.servers import Server, running_server

PAGE = """
query Page($filter: OrderEventFilter, $after: String) {
  orderEvents(filter: $filter, after: $after, first: 500) {
    edges { cursor node { cursor type orderId version } }
    pageInfo { hasNextPage endCursor }
  }
}"""

LIFECYCLE = ["PAID", "ACCEPTED", "FULFILLING", "COMPLETED"]
REMARK = """mutation($id: ID!) {
  updateOrder(input: {orderId: $id, remark: "x"}) { errors { code } }
}"""


@pytest.fixture(scope="module")
def servers(postgres_url: str) -> Iterator[tuple[Server, Server]]:
    with running_server(postgres_url) as a, running_server(postgres_url) as b:
        yield a, b


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


async def graphql(http: httpx.AsyncClient, server: Server, query: str, **variables: Any) -> Any:
    response = await http.post(
        server.http_url, json={"query": query, "variables": variables}, headers={"X-Client-Id": "w"}
    )
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def run_order(http: httpx.AsyncClient, server: Server, store: str) -> str:
    """Creates an order and takes it to COMPLETED: five events."""
    created = await graphql(http, server, CREATE, input=order_input(store))
    order = created["createOrder"]["order"]
    for version, target in enumerate(LIFECYCLE, start=1):
        move = {"orderId": order["id"], "to": target, "expectedVersion": version}
        result = await graphql(http, server, TRANSITION, input=move)
        assert result["transitionOrder"]["errors"] == []
    return str(order["id"])


async def log_page(http: httpx.AsyncClient, server: Server, store: str) -> list[dict[str, Any]]:
    data = await graphql(http, server, PAGE, filter={"storeIds": [store]})
    return [edge["node"] for edge in data["orderEvents"]["edges"]]


def a_store() -> str:
    return f"store-{uuid.uuid4().hex[:10]}"


async def test_subscriber_on_one_process_gets_every_write_of_five_writers_on_another(
    servers: tuple[Server, Server], http: httpx.AsyncClient
) -> None:
    writer, reader = servers
    store = a_store()
    variables = {"filter": {"storeIds": [store]}, "fromStart": True}
    async with subscribe(reader.ws_url, SKINNY, variables) as events:
        writes = asyncio.gather(*(run_order(http, writer, store) for _ in range(5)))
        received = await events.take(25)
        await writes

    cursors = [event["cursor"] for event in received]
    assert len(set(cursors)) == 25
    assert [e["cursor"] for e in await log_page(http, writer, store)] == cursors
    for order_id in {event["orderId"] for event in received}:
        versions = [event["version"] for event in received if event["orderId"] == order_id]
        assert versions == [1, 2, 3, 4, 5]


async def test_a_change_reaches_a_live_subscriber_on_another_process_within_a_second(
    servers: tuple[Server, Server], http: httpx.AsyncClient
) -> None:
    writer, reader = servers
    store = a_store()
    await graphql(http, writer, CREATE, input=order_input(store))
    variables = {"filter": {"storeIds": [store]}, "fromStart": True}
    async with subscribe(reader.ws_url, SKINNY, variables) as events:
        await events.next()  # the earlier event, replayed: the subscription is live
        latencies = []
        for _ in range(5):
            began = time.monotonic()
            await graphql(http, writer, CREATE, input=order_input(store))
            await events.next(within=5)
            latencies.append(time.monotonic() - began)
    assert max(latencies) < 1.0, latencies


async def test_resuming_with_the_last_cursor_delivers_exactly_what_was_missed(
    servers: tuple[Server, Server], http: httpx.AsyncClient
) -> None:
    writer, reader = servers
    store = a_store()
    await run_order(http, writer, store)
    variables = {"filter": {"storeIds": [store]}, "fromStart": True}
    async with subscribe(reader.ws_url, SKINNY, variables) as events:
        seen = await events.take(3)
    missed = [await run_order(http, writer, store) for _ in range(20)]

    resume = {"filter": {"storeIds": [store]}, "after": seen[-1]["cursor"]}
    async with subscribe(reader.ws_url, SKINNY, resume) as events:
        received = await events.take(2 + 100)
    assert [e["cursor"] for e in received] == [
        e["cursor"] for e in (await log_page(http, writer, store))[3:]
    ]
    assert {e["orderId"] for e in received[2:]} == set(missed)


async def test_no_event_is_lost_when_the_listener_connection_is_killed(
    servers: tuple[Server, Server], http: httpx.AsyncClient, postgres_url: str
) -> None:
    writer, reader = servers
    store = a_store()
    variables = {"filter": {"storeIds": [store]}, "fromStart": True}
    async with subscribe(reader.ws_url, SKINNY, variables) as events:
        await run_order(http, writer, store)
        first = await events.take(5)
        admin = await asyncpg.connect(asyncpg_dsn(postgres_url))
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = $1 AND datname = current_database()",
                APPLICATION_NAME,
            )
        finally:
            await admin.close()
        assert killed == 2  # one listener per server process
        await asyncio.gather(*(run_order(http, writer, store) for _ in range(4)))
        # Shorter than the hub's 5 s safety poll: only a re-established LISTEN delivers in time.
        rest = await events.take(20, within=4)

    assert [e["cursor"] for e in first + rest] == [
        e["cursor"] for e in await log_page(http, writer, store)
    ]


async def test_fat_events_carry_the_order_in_the_full_tier(
    servers: tuple[Server, Server], http: httpx.AsyncClient
) -> None:
    writer, reader = servers
    store = a_store()
    order_id = await run_order(http, writer, store)
    variables = {"filter": {"storeIds": [store]}, "fromStart": True}
    async with subscribe(reader.ws_url, FAT, variables) as events:
        received = await events.take(5)

    assert [e["version"] for e in received] == [1, 2, 3, 4, 5]
    for event in received:
        order = event["order"]
        assert order["id"] == order_id
        assert order["mainStatus"] == "COMPLETED"  # the order as it is now
        assert len(order["statusHistory"]) == 5
        assert [i["skuId"] for i in order["items"]] == ["latte", "bagel"]


async def test_the_legacy_graphql_ws_protocol_works(
    servers: tuple[Server, Server], http: httpx.AsyncClient
) -> None:
    writer, reader = servers
    store = a_store()
    await graphql(http, writer, CREATE, input=order_input(store))
    variables = {"filter": {"storeIds": [store]}, "fromStart": True}
    async with subscribe(reader.ws_url, SKINNY, variables, protocol=LEGACY_WS) as events:
        (event,) = await events.take(1)
    assert event["type"] == "CREATED"


async def test_events_of_other_stores_and_types_are_filtered_out(
    servers: tuple[Server, Server], http: httpx.AsyncClient
) -> None:
    writer, reader = servers
    store, other = a_store(), a_store()
    await run_order(http, writer, other)
    await run_order(http, writer, store)
    variables = {
        "filter": {"storeIds": [store], "types": ["CREATED"]},
        "fromStart": True,
    }
    async with subscribe(reader.ws_url, SKINNY, variables) as events:
        (event,) = await events.take(1)
        await graphql(http, writer, CREATE, input=order_input(store))
        (live,) = await events.take(1)
    assert (event["storeId"], event["type"]) == (store, "CREATED")
    assert (live["storeId"], live["type"], live["version"]) == (store, "CREATED", 1)


async def test_each_operation_on_a_socket_reads_fresh_data(
    servers: tuple[Server, Server], http: httpx.AsyncClient
) -> None:
    writer, reader = servers
    order_id = await run_order(http, writer, a_store())
    query = "query($id: ID!) { order(id: $id) { version remark } }"
    async with session(reader.ws_url) as ws:
        before = await execute(ws, query, id=order_id)
        await graphql(http, writer, REMARK, id=order_id)
        after = await execute(ws, query, id=order_id)  # the same connection
    assert before["order"] == {"version": 5, "remark": None}
    assert after["order"] == {"version": 6, "remark": "x"}


async def test_the_legacy_protocol_can_be_switched_off(postgres_url: str) -> None:
    with running_server(postgres_url, ORDER_GRAPH_LEGACY_GRAPHQL_WS="false") as server:
        with pytest.raises(TransportConnectionFailed) as refused:
            async with session(server.ws_url, protocol=LEGACY_WS) as ws:
                await execute(ws, "{ __typename }")
        assert close_code(refused.value) == 4406  # subprotocol not acceptable
        async with session(server.ws_url) as ws:  # graphql-transport-ws still connects
            assert await execute(ws, "{ __typename }") == {"__typename": "Query"}
