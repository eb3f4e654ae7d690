"""gql, the Python GraphQL client users run: over HTTP, and over websockets on either
subprotocol, with the API key where a user puts it (a header; `connection_init` on a socket)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from gql import Client, GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close

TRANSPORT_WS = WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL  # graphql-transport-ws
LEGACY_WS = WebsocketsTransport.APOLLO_SUBPROTOCOL  # graphql-ws
PROTOCOLS = [TRANSPORT_WS, LEGACY_WS]


def bearer(key: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"} if key else {}


@asynccontextmanager
async def http_session(url: str, key: str | None = None) -> AsyncIterator[AsyncClientSession]:
    transport = HTTPXAsyncTransport(url=url, headers=bearer(key), timeout=30)
    async with Client(transport=transport) as session:
        yield session


@asynccontextmanager
async def ws_session(
    url: str,
    key: str | None = None,
    protocol: str = TRANSPORT_WS,
    init_payload: dict[str, Any] | None = None,
) -> AsyncIterator[AsyncClientSession]:
    transport = WebsocketsTransport(
        url=url,
        subprotocols=[protocol],
        init_payload=bearer(key) if init_payload is None else init_payload,
        connect_timeout=10,
        ack_timeout=10,
    )
    async with Client(transport=transport) as session:
        yield session


async def execute(session: AsyncClientSession, query: str, **variables: Any) -> dict[str, Any]:
    return await session.execute(GraphQLRequest(query, variable_values=variables))


class Events:
    """A subscription's results as they come; each wait fails after `within` seconds."""

    def __init__(self, results: AsyncGenerator[dict[str, Any], None]) -> None:
        self.results = results

    async def next(self, within: float = 10.0) -> dict[str, Any]:
        result = await asyncio.wait_for(anext(self.results), within)
        event: dict[str, Any] = result["orderEvents"]
        return event

    async def take(self, count: int, within: float = 10.0) -> list[dict[str, Any]]:
        return [await self.next(within) for _ in range(count)]


@asynccontextmanager
async def subscription(
    session: AsyncClientSession, query: str, **variables: Any
) -> AsyncIterator[Events]:
    results = session.subscribe(GraphQLRequest(query, variable_values=variables))
    try:
        yield Events(results)
    finally:
        await results.aclose()


@asynccontextmanager
async def subscribe(
    url: str,
    query: str,
    variables: dict[str, Any] | None = None,
    protocol: str = TRANSPORT_WS,
    key: str | None = None,
) -> AsyncIterator[Events]:
    """A subscription on a websocket of its own. gql sends it with the first wait for an
    event, so a test that must not miss earlier events subscribes with `after:` or
    `fromStart: true`."""
    async with (
        ws_session(url, key, protocol) as session,
        subscription(session, query, **(variables or {})) as events,
    ):
        yield events


def close_frame(error: BaseException) -> Close | None:
    """The close frame the server sent, as gql reports it: on the cause of its error."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ConnectionClosed) and cause.rcvd is not None:
            return cause.rcvd
        cause = cause.__cause__
    return None


def close_code(error: BaseException) -> int | None:
    frame = close_frame(error)
    return None if frame is None else frame.code
