"""SIGTERM: stop accepting, finish what is in flight, close subscriptions with 1012, exit 0."""

from __future__ import annotations

import asyncio
import signal

import httpx
import pytest
from gql.transport.exceptions import TransportConnectionFailed
from sqlalchemy.engine import make_url

from tests.api.conftest import CREATE, order_input
from tests.support.clients import close_code, subscription, ws_session
from tests.support.servers import server_in_background, stop_server
from tests.support.tcp_proxy import Proxy

EVENTS = """subscription($filter: OrderEventFilter) {
  orderEvents(filter: $filter, fromStart: true) { cursor type }
}"""


async def test_sigterm_drains_requests_closes_subscriptions_and_exits_cleanly(
    postgres_url: str, proxy: Proxy, store_id: str
) -> None:
    via_proxy = make_url(postgres_url).set(port=proxy.port).render_as_string(False)
    async with (
        server_in_background(via_proxy) as server,
        httpx.AsyncClient(timeout=30) as http,
    ):
        create = {"query": CREATE, "variables": {"input": order_input(store_id)}}
        assert (await http.post(server.http_url, json=create)).status_code == 200
        variables = {"filter": {"storeIds": [store_id]}}
        async with (
            ws_session(server.ws_url) as ws,
            subscription(ws, EVENTS, **variables) as events,
        ):
            await events.take(1)  # live

            proxy.hold()  # the next request stalls inside the server, waiting on PostgreSQL
            in_flight = asyncio.create_task(http.post(server.http_url, json=create))
            await asyncio.wait_for(proxy.held.wait(), 10)
            server.process.send_signal(signal.SIGTERM)

            with pytest.raises(TransportConnectionFailed) as closed:
                await events.next(within=10)
            assert close_code(closed.value) == 1012  # service restart: reconnect elsewhere

            proxy.release()
            response = await in_flight
            assert response.status_code == 200
            assert response.json()["data"]["createOrder"]["order"]["version"] == 1

        assert await asyncio.to_thread(stop_server, server) == 0


@pytest.mark.parametrize(
    ("accept", "ending"),
    [
        ("text/event-stream", b"event: complete\r\ndata:"),
        ("multipart/mixed;boundary=graphql;subscriptionSpec=1.0,application/json", b"--graphql--"),
    ],
    ids=["sse", "multipart"],
)
async def test_sigterm_ends_subscriptions_over_http_at_once(
    postgres_url: str, store_id: str, accept: str, ending: bytes
) -> None:
    grace = 120  # a stream left to the grace period would outlast the deadline below
    async with (
        server_in_background(postgres_url, ORDER_GRAPH_SHUTDOWN_GRACE=str(grace)) as server,
        httpx.AsyncClient(timeout=30) as http,
    ):
        create = {"query": CREATE, "variables": {"input": order_input(store_id)}}
        assert (await http.post(server.http_url, json=create)).status_code == 200
        follow = {"query": EVENTS, "variables": {"filter": {"storeIds": [store_id]}}}
        received = b""
        async with asyncio.timeout(30):
            request = http.stream("POST", server.http_url, json=follow, headers={"accept": accept})
            async with request as stream:
                async for chunk in stream.aiter_bytes():
                    received += chunk
                    if b"CREATED" in received and server.process.poll() is None:
                        server.process.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(stop_server, server) == 0
        assert received.rstrip().endswith(ending), received[-200:]
