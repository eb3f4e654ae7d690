"""A revoked key loses its open websockets too: a real server with auth on, on PostgreSQL, with
a short ORDER_GRAPH_AUTH_CACHE_SECONDS, and the key revoked with the CLI."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from gql.transport.exceptions import TransportConnectionFailed

from tests.api.conftest import CREATE, order_input
from tests.integration.test_security import cli, new_client
from tests.support.clients import LEGACY_WS, Events, close_code, subscribe
from tests.support.servers import Server, running_server

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


async def closed_with(events: Events, within: float = 20) -> int | None:
    """The close code, once the server closes the subscription's socket; fails if it is still
    open `within` seconds after the revocation (no event comes meanwhile: nothing is written)."""
    with pytest.raises(TransportConnectionFailed) as closed:
        await events.next(within)
    return close_code(closed.value)


async def test_revoking_a_key_closes_its_open_websockets_with_4403(
    server: Server, postgres_url: str
) -> None:
    store = f"s-{uuid.uuid4().hex[:8]}"
    writer = new_client(postgres_url, "orders:create")
    reader_name = f"app-{uuid.uuid4().hex[:8]}"
    made = cli(postgres_url, "clients", "create", "--name", reader_name, "--scopes", "events:read")
    reader = made.stdout.strip().splitlines()[-1]
    variables = {"store": store}
    async with (
        subscribe(server.ws_url, EVENTS, variables, key=reader) as current,
        subscribe(server.ws_url, EVENTS, variables, LEGACY_WS, key=reader) as legacy,
        httpx.AsyncClient(headers={"authorization": f"Bearer {writer}"}) as http,
    ):
        body = {"query": CREATE, "variables": {"input": order_input(store)}}
        assert (await http.post(server.http_url, json=body)).status_code == 200
        assert await current.take(1) == [{"storeId": store, "type": "CREATED"}]
        assert await legacy.take(1) == [{"storeId": store, "type": "CREATED"}]

        # The sockets are open and working; then the key is revoked.
        assert cli(postgres_url, "clients", "revoke", reader_name).returncode == 0
        assert await closed_with(current) == 4403
        assert await closed_with(legacy) == 4403

        refused = await http.post(
            server.http_url,
            json={"query": "{ __typename }"},
            headers={"authorization": f"Bearer {reader}"},
        )
        assert refused.status_code == 401
    assert "Traceback" not in "".join(server.log)
