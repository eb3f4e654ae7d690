"""PostgreSQL going away under load: retryable errors, no hang, no lost write, no restart;
with authentication off and, as production runs, on (real keys, looked up in the database)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from order_graph.api import ids
from order_graph.domain.access import Principal, Scope
from order_graph.events.listener import asyncpg_dsn
from order_graph.service import utc_now
from order_graph.storage import clients
from order_graph.storage.database import Database
from tests.api.conftest import CREATE, order_input
from tests.conftest import fresh_database
from tests.support.servers import Server, server_in_background
from tests.support.tcp_proxy import Proxy


@pytest.fixture(scope="module")
async def postgres_url() -> AsyncIterator[str]:
    """This module kills connections: it does so in a database of its own."""
    async with fresh_database() as url:
        yield url


@pytest.fixture(params=["off", "required"])
async def auth(request: pytest.FixtureRequest, postgres_url: str) -> dict[str, str]:
    """The server's authentication setting, and the headers a client sends it: with auth on,
    a real key, so that every request's key lookup needs the database once its cache expires."""
    if request.param == "off":
        return {}
    key = clients.new_key()
    db = Database(postgres_url)
    try:
        async with db.write() as conn:
            principal = Principal(f"load-{uuid.uuid4().hex[:8]}", frozenset({Scope.ADMIN}))
            await clients.create(conn, principal, key, utc_now())
    finally:
        await db.dispose()
    return {"authorization": f"Bearer {key}"}


def serving(auth: dict[str, str]) -> dict[str, str]:
    if not auth:
        return {"ORDER_GRAPH_AUTH": "off"}
    return {"ORDER_GRAPH_AUTH": "required", "ORDER_GRAPH_AUTH_CACHE_SECONDS": "0.2"}


@dataclass
class Load:
    """Creates orders one after another and keeps score of what came back."""

    server: Server
    store: str
    headers: dict[str, str] = field(default_factory=dict)
    acknowledged: list[str] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=15, headers=self.headers) as http:
            while not self.stop.is_set():
                began = time.monotonic()
                response = await http.post(
                    self.server.http_url,
                    json={"query": CREATE, "variables": {"input": order_input(self.store)}},
                )
                assert time.monotonic() - began < 10, "a request hung"
                self.outcomes[self._classify(response)] += 1
                await asyncio.sleep(0)

    def _classify(self, response: httpx.Response) -> str:
        """ "ok", or the error's code; never a body that is not a GraphQL one."""
        assert response.headers["content-type"] == "application/json", response.text
        body = response.json()
        if body.get("data") and body["data"]["createOrder"]["order"]:
            self.acknowledged.append(body["data"]["createOrder"]["order"]["id"])
            return "ok"
        return str(body["errors"][0]["extensions"].get("code"))

    async def until(self, outcome: str, count: int, within: float = 30) -> None:
        deadline = time.monotonic() + within
        target = self.outcomes[outcome] + count
        while self.outcomes[outcome] < target:
            assert time.monotonic() < deadline, f"waited for {count} x {outcome}: {self.outcomes}"
            await asyncio.sleep(0.01)


async def readiness(server: Server, wanted: int, within: float = 30) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=10) as http:
        while (
            await http.get(server.http_url.replace("/graphql", "/readyz"))
        ).status_code != wanted:
            assert time.monotonic() < deadline, f"/readyz never answered {wanted}"
            await asyncio.sleep(0.05)


async def stored(postgres_url: str, order_ids: list[str]) -> int:
    numbers = [ids.decode_as("Order", value) for value in order_ids]
    conn = await asyncpg.connect(asyncpg_dsn(postgres_url))
    try:
        return int(await conn.fetchval("SELECT count(*) FROM orders WHERE id = ANY($1)", numbers))
    finally:
        await conn.close()


async def test_an_outage_gives_retryable_errors_and_service_resumes_by_itself(
    postgres_url: str, proxy: Proxy, store_id: str, auth: dict[str, str]
) -> None:
    via_proxy = make_url(postgres_url).set(port=proxy.port).render_as_string(False)
    async with server_in_background(via_proxy, **serving(auth)) as server:
        load = Load(server, store_id, auth)
        writer = asyncio.create_task(load.run())
        await load.until("ok", 10)

        proxy.cut()
        await load.until("UNAVAILABLE", 3)
        await readiness(server, 503)

        proxy.restore()
        await readiness(server, 200)
        await load.until("ok", 10)
        load.stop.set()
        await writer

    assert set(load.outcomes) == {"ok", "UNAVAILABLE"}, load.outcomes
    assert await stored(postgres_url, load.acknowledged) == len(load.acknowledged)


async def test_killing_every_database_connection_loses_no_acknowledged_write(
    postgres_url: str, store_id: str, auth: dict[str, str]
) -> None:
    async with server_in_background(postgres_url, **serving(auth)) as server:
        load = Load(server, store_id, auth)
        writer = asyncio.create_task(load.run())
        await load.until("ok", 10)
        admin = await asyncpg.connect(asyncpg_dsn(postgres_url))
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        assert killed >= 2  # the listener and at least one pooled connection
        await load.until("ok", 20)
        load.stop.set()
        await writer

    assert set(load.outcomes) <= {"ok", "UNAVAILABLE"}, load.outcomes
    assert await stored(postgres_url, load.acknowledged) == len(load.acknowledged)
