"""Issue 14 on PostgreSQL with real processes: deadlines fire exactly once with several runners,
across SIGKILL and a database outage, and reach subscribers of `order-graph serve`."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from order_graph.api import ids
from order_graph.service import OrderService
from order_graph.storage import migrate
from order_graph.storage.database import Database
from order_graph.storage.deadlines import due
from tests.api.conftest import TRANSITION
from tests.api.deadlines.conftest import DEFINE, UNPAID
from tests.conftest import ADMIN_URL, _plain, fresh_database
from tests.integration.conftest import eventually
from tests.support.clients import subscribe
from tests.support.deadlines import CLI, Ledger, Orders, RunnerProcess, due_orders
from tests.support.servers import running_server
from tests.support.tcp_proxy import Proxy


@pytest.fixture(scope="module")
async def postgres_url() -> AsyncIterator[str]:
    """A sweep fires every due deadline in its database: this module has one of its own."""
    async with fresh_database() as url:
        yield url


@pytest.fixture
async def runners(postgres_url: str, tmp_path: Path) -> AsyncIterator[Callable[..., RunnerProcess]]:
    made: list[RunnerProcess] = []

    def make(batch_size: int = 100) -> RunnerProcess:
        log = tmp_path / f"runner-{len(made)}.log"
        made.append(RunnerProcess(postgres_url, log, batch_size))
        return made[-1]

    yield make
    for runner in made:
        if runner.process is not None and runner.process.returncode is None:
            await runner.kill()


async def test_two_runner_processes_fire_each_of_1000_due_orders_exactly_once(
    postgres_url: str, store_id: str, runners: Callable[..., RunnerProcess]
) -> None:
    await due_orders(postgres_url, store_id, 1000)
    ledger = Ledger(postgres_url, store_id)

    pair = [await runners().start(), await runners().start()]
    await eventually(lambda: _equals(ledger.fired(), 1000), "1,000 firings", within=120)
    assert [await runner.stop() for runner in pair] == [0, 0]

    await ledger.assert_each_fired_once(1000)


async def test_a_runner_killed_mid_batch_then_restarted_fires_nothing_twice_and_loses_nothing(
    postgres_url: str, store_id: str, runners: Callable[..., RunnerProcess]
) -> None:
    await due_orders(postgres_url, store_id, 120)
    ledger = Ledger(postgres_url, store_id)

    first = await runners(batch_size=10).start()  # many batch boundaries to die at
    await eventually(lambda: _at_least(ledger.fired(), 25), "the first firings", within=60)
    await first.kill()
    assert await ledger.fired() < 120, "the runner was not killed mid-run"

    await runners(batch_size=10).start()
    await eventually(lambda: _equals(ledger.fired(), 120), "all 120 firings", within=60)
    await ledger.assert_each_fired_once(120)


async def test_two_services_racing_for_the_same_deadlines_fire_each_once(
    postgres_url: str, store_id: str
) -> None:
    """Without the runners' lock (say, a runner whose lock connection died mid-batch), the
    order's row lock and the re-check under it still let each deadline fire once."""
    await due_orders(postgres_url, store_id, 40)
    databases = [Database(postgres_url, pool_size=4) for _ in range(2)]
    try:
        services = [OrderService(db) for db in databases]
        async with databases[0].read() as conn:
            batch = await due(conn, datetime.now(UTC), None, 1000)
        assert len(batch) == 40
        results = await asyncio.gather(
            *(service.fire_deadline(d) for d in batch for service in services)
        )
    finally:
        for db in databases:
            await db.dispose()

    assert sum(result is not None for result in results) == 40
    await Ledger(postgres_url, store_id).assert_each_fired_once(40)


async def test_deadlines_due_during_an_outage_fire_on_recovery_oldest_first(
    postgres_url: str, store_id: str, proxy: Proxy, caplog: pytest.LogCaptureFixture
) -> None:
    via_proxy = make_url(postgres_url).set(port=proxy.port).render_as_string(False)
    async with Orders(via_proxy, store_id) as orders:
        await orders.define(
            **{**UNPAID, "code": "POS_UNPAID", "channel": "POS", "afterSeconds": 600}
        )
        made = []
        for _ in range(5):
            made += await orders.create(1, channel="POS")
            orders.clock.advance(seconds=30)  # each due 30 s after the one before
        runner = orders.app.state.deadlines
        runner.poll_seconds = 0.05
        runner.concurrency = 1  # strictly oldest first (with more, batch by batch)
        stop = asyncio.Event()
        caplog.set_level(logging.WARNING, "order_graph.deadlines")
        proxy.cut()
        task = asyncio.create_task(runner.run(stop))
        orders.clock.advance(hours=1)
        await eventually(_logged(caplog, "database unavailable"), "a sweep failing")

        proxy.restore()
        ledger = Ledger(postgres_url, store_id)
        try:
            await eventually(lambda: _equals(ledger.fired(), 5), "the late firings", within=15)
        finally:
            stop.set()
            await task

    numbers = [int(_number(order_id)) for order_id in made]
    assert await ledger.cancelled_in_due_order() == numbers


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
async def test_serve_fires_due_deadlines_and_a_subscriber_receives_them(
    postgres_url: str, store_id: str, backend: str, tmp_path: Path
) -> None:
    url = postgres_url
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}"
        db = Database(url)
        await migrate.upgrade(db)
        await db.dispose()
    async with Orders(url, store_id) as orders:
        orders.clock.now = datetime.now(UTC) - timedelta(hours=1)
        made = await orders.create(3, channel="WEB")
    subscription = """subscription($store: ID!) {
      orderEvents(filter: {storeIds: [$store], types: [STATUS_CHANGED]}, fromStart: true) {
        type orderId version mainStatus previousMainStatus actor
        order { statusHistory { reason actor } }
      }
    }"""
    with running_server(url, ORDER_GRAPH_DEADLINE_POLL_SECONDS="0.1") as server:
        async with (
            subscribe(server.ws_url, subscription, {"store": store_id}) as events,
            httpx.AsyncClient(timeout=30) as http,
        ):
            rule = {**UNPAID, "code": "WEB_UNPAID", "channel": "WEB"}
            defined = await http.post(
                server.http_url, json={"query": DEFINE, "variables": {"input": rule}}
            )
            assert defined.json()["data"]["defineDeadline"]["errors"] == []

            received = await events.take(3)
            metrics = (await http.get(server.http_url.replace("/graphql", "/metrics"))).text

    assert sorted(event["orderId"] for event in received) == sorted(made)
    for event in received:
        assert event["type"] == "STATUS_CHANGED"
        assert (event["previousMainStatus"], event["mainStatus"]) == ("CREATED", "CANCELLED")
        assert (event["version"], event["actor"]) == (2, "system:deadline")
        last = event["order"]["statusHistory"][-1]
        assert last == {"reason": "PAYMENT_TIMEOUT", "actor": "system:deadline"}
    assert 'order_graph_deadlines_fired_total{rule="WEB_UNPAID"} 3.0' in metrics
    assert "order_graph_deadline_runner_alive 1.0" in metrics
    assert "order_graph_deadline_lateness_seconds_count 3.0" in metrics


async def test_a_rule_defined_while_orders_move_into_its_status_misses_none(
    postgres_url: str, store_id: str
) -> None:
    async with Orders(postgres_url, store_id) as orders:
        made = await orders.create(60, channel="APP", fulfillment="DELIVERY")
        rule = {
            "code": "APP_DELIVERY_NOT_ACCEPTED",
            "mainStatus": "PAID",
            "channel": "APP",
            "fulfillmentType": "DELIVERY",
            "afterSeconds": 300,
            "moveTo": "CANCELLED",
            "reason": "NOT_ACCEPTED",
        }

        async def pay(order_id: str) -> None:
            move = {"input": {"orderId": order_id, "to": "PAID", "expectedVersion": 1}}
            assert (await orders.gql.execute(TRANSITION, move))["transitionOrder"]["errors"] == []

        payments = [asyncio.create_task(pay(order_id)) for order_id in made]
        await asyncio.sleep(0)  # let the payments start
        await orders.define(**rule)
        await asyncio.gather(*payments)
        query = "query($ids: [ID!]!) { ordersByIds(ids: $ids) { deadline { rule { code } } } }"
        found = (await orders.gql.execute(query, {"ids": made}))["ordersByIds"]

    assert [o["deadline"] for o in found] == [{"rule": {"code": rule["code"]}}] * 60


async def _equals(value: Any, expected: int) -> bool:
    return bool(await value == expected)


async def _at_least(value: Any, expected: int) -> bool:
    return bool(await value >= expected)


def _logged(caplog: pytest.LogCaptureFixture, text: str) -> Callable[[], Any]:
    async def check() -> bool:
        return text in caplog.text

    return check


def _number(order_id: str) -> int:
    return ids.decode_as("Order", order_id)


async def test_the_runner_process_refuses_an_unmigrated_database() -> None:
    admin = await asyncpg.connect(_plain(ADMIN_URL))
    name = f"order_graph_empty_{uuid.uuid4().hex[:10]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        process = await asyncio.create_subprocess_exec(
            *CLI,
            "deadlines",
            env={**os.environ, "ORDER_GRAPH_DATABASE_URL": url},
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    assert process.returncode == 2
    assert b"order-graph migrate" in stderr


async def test_payments_racing_the_runner_either_win_or_are_refused_never_both(
    postgres_url: str, store_id: str
) -> None:
    async with Orders(postgres_url, store_id) as orders:
        await orders.define(**{**UNPAID, "code": "RACE_UNPAID", "channel": "APP"})
        made = await orders.create(40, channel="APP")
        orders.clock.advance(minutes=15)  # all due now
        runner = orders.app.state.deadlines

        async def pay(order_id: str) -> list[str]:
            move = {"input": {"orderId": order_id, "to": "PAID", "expectedVersion": 1}}
            payload = (await orders.gql.execute(TRANSITION, move))["transitionOrder"]
            return [error["code"] for error in payload["errors"]]

        async def pay_newest_first() -> list[list[str]]:  # the runner starts at the oldest
            return [await pay(order_id) for order_id in reversed(made)][::-1]

        outcomes, _ = await asyncio.gather(pay_newest_first(), runner.sweep())
        query = "query($ids: [ID!]!) { ordersByIds(ids: $ids) { mainStatus version } }"
        found = (await orders.gql.execute(query, {"ids": made}))["ordersByIds"]

    events = await Ledger(postgres_url, store_id).events()
    for order_id, refused, order in zip(made, outcomes, found, strict=True):
        assert order["version"] == 2
        if refused:  # the deadline came first
            assert refused == ["VERSION_CONFLICT"]
            assert order["mainStatus"] == "CANCELLED"
            assert events[_number(order_id)] == 1
        else:
            assert order["mainStatus"] == "PAID"
            assert _number(order_id) not in events
