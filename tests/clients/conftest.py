"""One real server for the real clients: authentication on, websocket compression on, keys
made with the CLI, PostgreSQL, as in production, and one other site's web app allowed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from tests.support.keys import new_client
from tests.support.servers import Server, server_in_background

APP_SCOPES = "orders:read,orders:create,orders:transition,orders:update,events:read"
ALLOWED_ORIGIN = "https://admin.example.com"  # a web app on another site, allowed by CORS


@dataclass(frozen=True)
class Deployment:
    server: Server
    key: str  # a BFF's: reads, writes and events of every store
    store: str
    store_key: str  # a store's POS: reads and events of `store` only


@pytest.fixture(scope="package")
async def deployment(postgres_url: str) -> AsyncIterator[Deployment]:
    """Stopped once the client tests are done, so later tests see no listener of it."""
    store = f"store-{uuid.uuid4().hex[:10]}"
    key, store_key = await asyncio.gather(  # two CLI runs at once
        asyncio.to_thread(new_client, postgres_url, APP_SCOPES),
        asyncio.to_thread(new_client, postgres_url, "orders:read,events:read", store),
    )
    async with server_in_background(
        postgres_url,
        ORDER_GRAPH_AUTH="required",
        ORDER_GRAPH_WS_COMPRESSION="true",
        ORDER_GRAPH_ALLOWED_ORIGINS=ALLOWED_ORIGIN,
        ORDER_GRAPH_DB_POOL_SIZE="4",  # the machine's PostgreSQL is shared
    ) as server:
        yield Deployment(server, key, store, store_key)


@pytest.fixture
def store() -> str:
    """A store of this test's own."""
    return f"store-{uuid.uuid4().hex[:10]}"
