"""Hostile and slow clients against a real server with auth on: each is answered or cut off
cleanly, and neither the connection it used nor anybody else is harmed."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from order_graph.domain.access import Principal, Scope
from order_graph.service import utc_now
from order_graph.storage import clients
from order_graph.storage.database import Database
from tests.support.servers import Server, running_server
from tests.support.ws import TRANSPORT_WS

READ = "query($n: Int) { orders(first: $n) { edges { cursor } } }"


@pytest.fixture(scope="module")
def server(postgres_url: str) -> Iterator[Server]:
    env = {
        "ORDER_GRAPH_AUTH": "required",
        "ORDER_GRAPH_HEADER_TIMEOUT": "1",
        "ORDER_GRAPH_BODY_TIMEOUT": "1",
        "ORDER_GRAPH_WS_MAX_CONNECTIONS_PER_CLIENT": "2",
        "ORDER_GRAPH_DB_POOL_SIZE": "2",
    }
    with running_server(postgres_url, **env) as server:
        yield server


@pytest.fixture(scope="module")
async def key(postgres_url: str) -> str:
    made = clients.new_key()
    db = Database(postgres_url)
    try:
        async with db.write() as conn:
            principal = Principal(f"app-{uuid.uuid4().hex[:8]}", frozenset({Scope.ADMIN}))
            await clients.create(conn, principal, made, utc_now())
    finally:
        await db.dispose()
    return made


class Raw:
    """One HTTP/1.1 connection, spoken by hand: what a keep-alive client really does."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    def head(self, key: str, length: int) -> bytes:
        return (
            "POST /graphql HTTP/1.1\r\nhost: order-graph\r\ncontent-type: application/json\r\n"
            f"authorization: Bearer {key}\r\ncontent-length: {length}\r\n\r\n"
        ).encode()

    async def post(self, key: str, payload: dict[str, Any]) -> tuple[int, str, Any]:
        body = json.dumps(payload).encode()
        self.writer.write(self.head(key, len(body)) + body)
        return await self.response()

    async def response(self, within: float = 10) -> tuple[int, str, Any]:
        status = int((await asyncio.wait_for(self.reader.readline(), within)).split()[1])
        headers = {}
        while (line := await asyncio.wait_for(self.reader.readline(), within)) != b"\r\n":
            name, _, value = line.decode().partition(":")
            headers[name.lower()] = value.strip()
        raw = await self.reader.readexactly(int(headers["content-length"]))
        return status, headers["content-type"], json.loads(raw) if raw else None

    async def closed(self, within: float = 10) -> bytes:
        """Everything the server sends until it closes the connection."""
        return await asyncio.wait_for(self.reader.read(), within)


@pytest.fixture
async def raw(server: Server) -> AsyncIterator[Raw]:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    yield Raw(reader, writer)
    writer.close()


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


async def test_hostile_requests_are_answered_and_the_connection_keeps_working(
    raw: Raw, key: str
) -> None:
    hostile = [
        {"query": READ, "variables": {"n": 2**63}},
        {"query": READ, "variables": {"n": 1, "undeclared": nested(400)}},
        {"query": "{ order(id: 1) " + "{ a " * 390 + "}" * 391},
    ]
    for payload in hostile:
        status, content_type, body = await raw.post(key, payload)
        assert (status, content_type) == (200, "application/json"), body
        assert body["errors"][0]["message"]
        assert "recursion" not in json.dumps(body)
        status, _, body = await raw.post(key, {"query": READ, "variables": {"n": 1}})
        assert status == 200
        assert "errors" not in body


async def test_headers_that_never_complete_are_cut_off(raw: Raw) -> None:
    raw.writer.write(b"POST /graphql HTTP/1.1\r\nhost: order-graph\r\nx-slow: ")
    answer = await raw.closed()
    assert answer.startswith(b"HTTP/1.1 408")


async def test_a_connection_that_sends_nothing_is_cut_off(raw: Raw) -> None:
    assert (await raw.closed()).startswith(b"HTTP/1.1 408")


async def test_a_body_that_never_completes_gets_408(raw: Raw, key: str) -> None:
    raw.writer.write(raw.head(key, 100) + b'{"query": ')
    status, content_type, body = await raw.response()
    assert (status, content_type) == (408, "application/json")
    assert body["errors"][0]["extensions"] == {"code": "REQUEST_TIMEOUT"}
    assert await raw.closed() == b""


async def test_a_client_that_hangs_up_mid_body_is_logged_499_and_is_no_server_error(
    server: Server, raw: Raw, key: str
) -> None:
    request_id = f"gone-{uuid.uuid4().hex[:8]}"
    head = raw.head(key, 100).replace(
        b"\r\n\r\n", f"\r\nx-request-id: {request_id}\r\n\r\n".encode()
    )
    raw.writer.write(head + b'{"query": ')
    await raw.writer.drain()
    raw.writer.close()
    await raw.writer.wait_closed()

    lines = await server.lines_with(request_id)
    assert not [line for line in lines if "unexpected error" in line], lines
    assert "Traceback" not in "".join(server.log)
    assert any('"status": 499' in line or "status=499" in line for line in lines), lines


async def hello(server: Server, key: str) -> ClientConnection:
    socket = await connect(server.ws_url, subprotocols=[TRANSPORT_WS])  # type: ignore[list-item]
    init = {"type": "connection_init", "payload": {"authorization": f"Bearer {key}"}}
    await socket.send(json.dumps(init))
    return socket


async def close_code(socket: ClientConnection) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(socket.recv(), 10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_a_websocket_message_is_bounded_like_a_body(server: Server, key: str) -> None:
    socket = await hello(server, key)
    assert json.loads(await socket.recv())["type"] == "connection_ack"
    query = "{ __typename }" + " " * 1_000_001
    await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
    assert (await close_code(socket))[0] == 1009


async def test_a_client_holds_a_bounded_number_of_websockets(server: Server, key: str) -> None:
    first, second = await hello(server, key), await hello(server, key)
    for socket in (first, second):
        assert json.loads(await socket.recv())["type"] == "connection_ack"
    third = await hello(server, key)
    code, reason = await close_code(third)
    assert (code, reason.split(":")[0]) == (4429, "TOO_MANY_CONNECTIONS")
    await first.close()
    fourth = await hello(server, key)  # a closed one frees its place
    assert json.loads(await fourth.recv())["type"] == "connection_ack"
    await asyncio.gather(second.close(), fourth.close())
