"""A raw GraphQL-over-websocket client, for protocol-level abuse tests only (too many
operations, no `connection_init`): tests of behaviour a user relies on use a real client
(tests/support/clients.py). It refuses binary frames, as real clients do."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

TRANSPORT_WS = "graphql-transport-ws"


async def receive(socket: ClientConnection, within: float = 10.0) -> Any:
    frame = await asyncio.wait_for(socket.recv(), within)
    assert isinstance(frame, str), f"a binary frame: {frame!r}"
    return json.loads(frame)


@asynccontextmanager
async def subscribe(
    url: str,
    query: str,
    variables: dict[str, Any] | None = None,
    init_payload: dict[str, Any] | None = None,
) -> AsyncIterator[ClientConnection]:
    """An acknowledged graphql-transport-ws connection with one operation (id "1") started."""
    async with connect(url, subprotocols=[TRANSPORT_WS]) as socket:  # type: ignore[list-item]
        await socket.send(json.dumps({"type": "connection_init", "payload": init_payload or {}}))
        ack = await receive(socket)
        assert ack["type"] == "connection_ack", ack
        payload = {"query": query, "variables": variables or {}}
        await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        yield socket
