"""A minimal GraphQL-over-websocket client (graphql-transport-ws, or the legacy graphql-ws)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"


class Subscription:
    def __init__(self, socket: ClientConnection, protocol: str) -> None:
        self.socket = socket
        self.protocol = protocol

    async def next(self, within: float = 10.0) -> dict[str, Any]:
        """The next result's data; fails on errors, completion or silence past `within` seconds."""
        while True:
            message = json.loads(await asyncio.wait_for(self.socket.recv(), within))
            if message["type"] in ("next", "data"):
                payload = message["payload"]
                assert "errors" not in payload, payload
                data: dict[str, Any] = payload["data"]
                return data
            if message["type"] in ("ping", "ka"):
                continue
            raise AssertionError(f"unexpected message: {message}")

    async def error(self, within: float = 10.0) -> Any:
        message = json.loads(await asyncio.wait_for(self.socket.recv(), within))
        assert message["type"] == "error", message
        return message["payload"]

    async def take(self, count: int, within: float = 10.0) -> list[dict[str, Any]]:
        return [(await self.next(within))["orderEvents"] for _ in range(count)]


@asynccontextmanager
async def subscribe(
    url: str,
    query: str,
    variables: dict[str, Any] | None = None,
    protocol: str = TRANSPORT_WS,
    init_payload: dict[str, Any] | None = None,
) -> AsyncIterator[Subscription]:
    async with connect(url, subprotocols=[protocol]) as socket:  # type: ignore[list-item]
        await socket.send(json.dumps({"type": "connection_init", "payload": init_payload or {}}))
        ack = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert ack["type"] == "connection_ack", ack
        start = "subscribe" if protocol == TRANSPORT_WS else "start"
        payload = {"query": query, "variables": variables or {}}
        await socket.send(json.dumps({"id": "1", "type": start, "payload": payload}))
        yield Subscription(socket, protocol)
