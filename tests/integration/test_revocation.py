"""A revoked key loses its open websockets too: a real server with auth on, on PostgreSQL, with
a short ORDER_GRAPH_AUTH_CACHE_SECONDS, and the key revoked with the CLI."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tests.api.conftest import CREATE, order_input
from tests.integration.test_security import cli, new_client
from tests.support.servers import Server, running_server
from tests.support.ws import LEGACY_WS, subscribe

pytestmark = pytest.mark.postgres

EVENTS = """subscription($store: ID!) {
  orderEvents(filter: {storeIds: [$store]}, fromStart: true) { storeId type }
}"""


@pytest.fixture(scope="module")
def server(postgres_url: str) -> Iterator[Server]:
    with running_server(
        postgres_url,
        ORDER_GRAPH_AUTH="required",
        ORDER_GRAPH_AUTH_CACHE_SECONDS="0.5",
        ORDER_GRAPH_DB_POOL_SIZE="4",
    ) as server:
        yield server


async def closed_with(socket: ClientConnection, within: float = 20) -> int | None:
    """Reads until the server closes the socket; fails if it has not within `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"the socket was still open {within}s after the key was revoked")
        try:
            await asyncio.wait_for(socket.recv(), left)
        except ConnectionClosed:
            return socket.close_code
        except TimeoutError:
            continue


async def test_revoking_a_key_closes_its_open_websockets_with_4403(
    server: Server, postgres_url: str
) -> None:
    store = f"s-{uuid.uuid4().hex[:8]}"
    writer = new_client(postgres_url, "orders:create")
    reader_name = f"app-{uuid.uuid4().hex[:8]}"
    made = cli(postgres_url, "clients", "create", "--name", reader_name, "--scopes", "events:read")
    reader = made.stdout.strip().splitlines()[-1]
    init = {"authorization": f"Bearer {reader}"}
    variables = {"store": store}
    async with (
        subscribe(server.ws_url, EVENTS, variables, init_payload=init) as current,
        subscribe(server.ws_url, EVENTS, variables, LEGACY_WS, init_payload=init) as legacy,
        httpx.AsyncClient(headers={"authorization": f"Bearer {writer}"}) as http,
    ):
        body = {"query": CREATE, "variables": {"input": order_input(store)}}
        assert (await http.post(server.http_url, json=body)).status_code == 200
        assert await current.take(1) == [{"storeId": store, "type": "CREATED"}]
        assert await legacy.take(1) == [{"storeId": store, "type": "CREATED"}]

        # The sockets are open and working; then the key is revoked.
        assert cli(postgres_url, "clients", "revoke", reader_name).returncode == 0
        assert await closed_with(current.socket) == 4403
        assert await closed_with(legacy.socket) == 4403

        refused = await http.post(
            server.http_url,
            json={"query": "{ __typename }"},
            headers={"authorization": f"Bearer {reader}"},
        )
        assert refused.status_code == 401
    assert "Traceback" not in "".join(server.log)
