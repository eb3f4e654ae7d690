"""The deadline integration tests' tools: orders written on a clock the test sets, what the
database holds of the firings, and `order-graph deadlines` processes."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from order_graph.api import ids
from order_graph.app import create_app
from order_graph.config import Settings
from order_graph.domain.access import Principal
from order_graph.domain.model import Channel, CreateOrder, FulfillmentType, ItemInput
from order_graph.events.listener import asyncpg_dsn
from tests.api.conftest import order_input
from tests.api.deadlines.conftest import DEFINE, UNPAID, FakeClock
from tests.conftest import GraphQLClient

CLI = [sys.executable, "-m", "order_graph.cli"]
CREATE_ID = "mutation($input: CreateOrderInput!) { createOrder(input: $input) { order { id } } }"


class Orders:
    """Orders written through the API by a client whose clock the test sets."""

    def __init__(self, url: str, store: str) -> None:
        self.url = url
        self.store = store
        self.clock = FakeClock()

    async def __aenter__(self) -> Orders:
        self.app = create_app(
            Settings(database_url=self.url, auth="off", db_pool_size=8), self.clock
        )
        transport = httpx.ASGITransport(app=self.app)
        self.http = httpx.AsyncClient(transport=transport, base_url="http://order-graph")
        self.gql = GraphQLClient(self.http, "checkout")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()
        await self.app.state.db.dispose()

    async def create(
        self, count: int, channel: str = "MINI_PROGRAM", fulfillment: str = "PICKUP"
    ) -> list[str]:
        variables = {"input": order_input(self.store, channel=channel, fulfillmentType=fulfillment)}
        payload = (await self.gql.execute(CREATE_ID, variables))["createOrder"]
        made = [payload["order"]["id"]]
        # The rest straight through the service, eight at a time: seeding is not under test.
        item = ItemInput("latte", "Latte", 1, Decimal("28.00"))
        command = CreateOrder(
            self.store, Channel(channel), FulfillmentType(fulfillment), "CNY", (item,)
        )
        service, client = self.app.state.deadlines.service, Principal.trusted("checkout")
        for start in range(1, count, 8):
            created = await asyncio.gather(
                *(service.create_order(client, command, None) for _ in range(min(8, count - start)))
            )
            made += [ids.encode("Order", order.id) for order, _ in created]
        return made

    async def define(self, **rule: Any) -> None:
        payload = (await self.gql.execute(DEFINE, {"input": rule}))["defineDeadline"]
        assert payload["errors"] == [], payload


class Ledger:
    """What the database holds for one store: firings per order, in events and in history."""

    def __init__(self, url: str, store: str) -> None:
        self.dsn = asyncpg_dsn(url)
        self.store = store

    async def _rows(self, query: str) -> list[Any]:
        conn = await asyncpg.connect(self.dsn)
        try:
            return list(await conn.fetch(query, self.store))
        finally:
            await conn.close()

    async def events(self) -> dict[int, int]:
        rows = await self._rows(
            "SELECT order_id, count(*) FROM order_events WHERE store_id = $1 "
            "AND actor = 'system:deadline' GROUP BY order_id"
        )
        return {row[0]: row[1] for row in rows}

    async def history(self) -> dict[int, int]:
        rows = await self._rows(
            "SELECT h.order_id, count(*) FROM status_changes h JOIN orders o ON o.id = h.order_id "
            "WHERE o.store_id = $1 AND h.actor = 'system:deadline' GROUP BY h.order_id"
        )
        return {row[0]: row[1] for row in rows}

    async def fired(self) -> int:
        return len(await self.events())

    async def cancelled_in_due_order(self) -> list[int]:
        rows = await self._rows(
            "SELECT order_id FROM order_events WHERE store_id = $1 AND actor = 'system:deadline' "
            "ORDER BY position"
        )
        return [row[0] for row in rows]

    async def assert_each_fired_once(self, count: int) -> None:
        events, history = await self.events(), await self.history()
        assert len(events) == count
        assert set(events.values()) == {1}
        assert history == events
        pending = await self._rows("SELECT count(*) FROM order_deadlines WHERE store_id = $1")
        assert pending[0][0] == 0


class RunnerProcess:
    """`order-graph deadlines` as an operator runs it, its log in a file."""

    def __init__(self, url: str, log: Path, batch_size: int) -> None:
        self.env = {
            **os.environ,
            "ORDER_GRAPH_DATABASE_URL": url,
            "ORDER_GRAPH_DEADLINE_POLL_SECONDS": "0.1",
            "ORDER_GRAPH_DEADLINE_BATCH_SIZE": str(batch_size),
        }
        self.log_path = log
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> RunnerProcess:
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *CLI, "deadlines", env=self.env, stdout=log, stderr=log
            )
        return self

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), 15)


async def due_orders(url: str, store: str, count: int) -> None:
    """`count` orders left unpaid an hour ago, under the 15-minute rule: all due now."""
    async with Orders(url, store) as orders:
        await orders.define(**{**UNPAID, "code": "DINE_IN_UNPAID", "fulfillmentType": "DINE_IN"})
        orders.clock.now = datetime.now(UTC) - timedelta(hours=1)
        await orders.create(count, fulfillment="DINE_IN")
