"""Keys made with the CLI, used over HTTP and websockets against a real server with auth on."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.api.conftest import CREATE, order_input
from tests.support.clients import execute, http_session, subscription, ws_session
from tests.support.keys import cli, new_client
from tests.support.servers import Server, running_server
from tests.support.ws import TRANSPORT_WS, receive, subscribe

EVENTS = """subscription($filter: OrderEventFilter) {
  orderEvents(filter: $filter, fromStart: true) { storeId type }
}"""


@pytest.fixture(scope="module")
def secure_server(postgres_url: str) -> Iterator[Server]:
    with running_server(
        postgres_url, ORDER_GRAPH_AUTH="required", ORDER_GRAPH_WS_INIT_TIMEOUT="1"
    ) as server:
        yield server


def test_the_cli_prints_a_key_once_and_stores_only_its_hash(postgres_url: str) -> None:
    name = f"pos-{uuid.uuid4().hex[:8]}"
    made = cli(postgres_url, "clients", "create", "--name", name, "--scopes", "orders:read")
    assert made.returncode == 0
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("og_")
    assert len(key) > 40
    listed = cli(postgres_url, "clients", "list")
    assert name in listed.stdout
    assert key not in listed.stdout
    assert cli(postgres_url, "clients", "create", "--name", name, "--scopes", "x").returncode == 2
    assert cli(postgres_url, "clients", "revoke", name).returncode == 0
    assert (
        f"{name}\torders:read\tall stores\trevoked" in cli(postgres_url, "clients", "list").stdout
    )
    assert cli(postgres_url, "clients", "revoke", name).returncode == 1


async def test_a_subscriber_sees_only_its_stores_events(
    secure_server: Server, postgres_url: str
) -> None:
    store, other = f"s-{uuid.uuid4().hex[:8]}", f"s-{uuid.uuid4().hex[:8]}"
    writer = new_client(postgres_url, "orders:create")
    reader = new_client(postgres_url, "events:read", stores=store)
    async with http_session(secure_server.http_url, writer) as http:
        for target in (other, store, other, store):
            created = await execute(http, CREATE, input=order_input(target))
            assert created["createOrder"]["errors"] == []

    async with (
        ws_session(secure_server.ws_url, reader) as ws,
        subscription(ws, EVENTS) as events,
    ):
        received = await events.take(2)
    # The other store's orders were logged between these two, and never came.
    assert received == [{"storeId": store, "type": "CREATED"}] * 2


async def close_code(url: str, messages: list[dict[str, object]]) -> int | None:
    async with connect(url, subprotocols=[TRANSPORT_WS]) as socket:  # type: ignore[list-item]
        for message in messages:
            await socket.send(json.dumps(message))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(socket.recv(), 10)
        return socket.close_code


async def test_a_websocket_without_a_valid_key_is_closed(secure_server: Server) -> None:
    for payload in ({}, {"authorization": "Bearer og_nope"}):
        init = {"type": "connection_init", "payload": payload}
        assert await close_code(secure_server.ws_url, [init]) == 4403


async def test_a_websocket_that_never_says_hello_is_closed(secure_server: Server) -> None:
    assert await close_code(secure_server.ws_url, []) == 4408


async def test_a_connection_may_hold_at_most_twenty_operations(
    secure_server: Server, postgres_url: str
) -> None:
    key = new_client(postgres_url, "events:read")
    init = {"authorization": f"Bearer {key}"}
    async with subscribe(secure_server.ws_url, EVENTS, init_payload=init) as socket:
        payload = {"query": EVENTS, "variables": {"filter": {"storeIds": ["none"]}}}
        for n in range(2, 22):
            await socket.send(json.dumps({"id": str(n), "type": "subscribe", "payload": payload}))
        while True:
            message = await receive(socket)
            if message["type"] == "error":
                break
    assert message["id"] == "21"
    assert message["payload"][0]["message"] == "Subscription limit reached"
