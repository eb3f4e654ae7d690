"""The app in this process on the SQLite file, with the settings a test needs, and an httpx
client that talks to it (for HTTP details; real servers are in tests/support/servers.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from order_graph.app import create_app
from order_graph.config import Settings


@asynccontextmanager
async def in_process(database_url: str, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url=database_url, **settings))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://og.internal") as http:
            yield http
    finally:
        await app.state.db.dispose()
