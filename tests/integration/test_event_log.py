"""The log never lets a reader skip an event that commits late (PostgreSQL, real concurrency):
writers insert their events unnumbered, the sequencer numbers them after commit."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from order_graph.domain.access import Principal
from order_graph.domain.model import EventType, OrderRecord
from order_graph.domain.status import MainStatus
from order_graph.events import log
from order_graph.events.hub import EventHub
from order_graph.events.sequencer import Sequencer
from order_graph.service import OrderService, utc_now
from order_graph.storage import orders as store
from order_graph.storage import writes
from order_graph.storage.database import Database
from tests.support.clients import subscribe
from tests.support.documents import SKINNY
from tests.support.servers import running_server
from tests.unit.test_validation import a_command

WRITERS = 8
CHANGES = 200


@pytest.fixture
async def pg_db(postgres_url: str) -> AsyncIterator[Database]:
    db = Database(postgres_url, pool_size=WRITERS + 4)
    yield db
    await db.dispose()


async def slow_writer(db: Database, sequencer: Sequencer, order: OrderRecord, seed: int) -> None:
    """Changes the order CHANGES times, holding some transactions open after the event's
    insert; after each commit it asks for positions, as the service does."""
    rng = random.Random(seed)
    for n in range(CHANGES):
        async with db.write() as conn:
            current = await store.get_order(conn, order.id, for_update=True)
            assert current is not None
            updated = await writes.update_order(conn, current, {"remark": f"{n}"}, utc_now())
            await log.append(conn, EventType.UPDATED, current, updated, "writer")
            if rng.random() < 0.3:
                await asyncio.sleep(rng.random() * 0.004)  # a slow commit, not synchronisation
        await sequencer.settle()


async def poll_reader(db: Database, start: int, expected: int, seen: list[int]) -> None:
    cursor = start
    while len(seen) < expected:
        async with db.read() as conn:
            events = await log.read_after(conn, cursor, log.EventQuery(), 100)
        seen.extend(e.position for e in events)
        cursor = events[-1].position if events else cursor
        await asyncio.sleep(0)


async def hub_reader(hub: EventHub, start: int, store_id: str, expected: int) -> list[int]:
    seen: list[int] = []
    async for batch in hub.follow(start, log.EventQuery(store_ids=[store_id])):
        seen.extend(e.position for e in batch)
        if len(seen) >= expected:
            return seen
    raise AssertionError("unreachable")


async def test_concurrent_writers_with_late_commits_never_make_a_reader_skip(
    pg_db: Database, store_id: str
) -> None:
    service = OrderService(pg_db)
    orders = [
        (
            await service.create_order(
                Principal.trusted("setup"), a_command(store_id=store_id), None
            )
        )[0]
        for _ in range(WRITERS)
    ]
    # A small window makes the hub's followers fall back to the table part of the time.
    hub = EventHub(pg_db, window=50, poll_seconds=0.05)
    await hub.start()
    async with pg_db.read() as conn:
        start = await log.head(conn)
    total = WRITERS * CHANGES
    polled: list[int] = []
    try:
        followed, *_ = await asyncio.gather(
            asyncio.wait_for(hub_reader(hub, start, store_id, total), 120),
            asyncio.wait_for(poll_reader(pg_db, start, total, polled), 120),
            *(
                # Each writer with a sequencer of its own, as if in a process of its own.
                slow_writer(pg_db, Sequencer(pg_db), order, seed)
                for seed, order in enumerate(orders)
            ),
        )
    finally:
        await hub.stop()

    everything = list(range(start + 1, start + total + 1))
    assert polled == everything
    assert followed == everything


class HeldOpen(OrderService):
    """The service's own write path, holding its transaction open after recording the event,
    right before commit (where the old design held the shared counter row), until released."""

    def __init__(self, db: Database, recorded: asyncio.Event, release: asyncio.Event) -> None:
        super().__init__(db)
        self.recorded = recorded
        self.release = release

    async def _record(
        self,
        conn: AsyncConnection,
        event_type: EventType,
        before: OrderRecord | None,
        after: OrderRecord,
        actor: str,
    ) -> None:
        await super()._record(conn, event_type, before, after, actor)
        self.recorded.set()
        await self.release.wait()


async def test_a_transaction_held_open_on_one_store_blocks_no_write_of_another(
    pg_db: Database, store_id: str
) -> None:
    service = OrderService(pg_db)
    anyone = Principal.trusted("t")
    other_store = f"{store_id}-b"
    slow_order, _ = await service.create_order(anyone, a_command(store_id=store_id), None)
    order_b, _ = await service.create_order(anyone, a_command(store_id=other_store), None)
    async with pg_db.read() as conn:
        start = await log.head(conn)
    recorded, release = asyncio.Event(), asyncio.Event()
    held = HeldOpen(pg_db, recorded, release)
    pay = (MainStatus.PAID, None, None, None, None)
    slow = asyncio.create_task(held.transition(anyone, slow_order.id, *pay))
    try:
        await asyncio.wait_for(recorded.wait(), 10)
        # Both complete while store A's transaction is still open (before the sequencer they
        # queued behind its lock on the counter row for as long as it stayed open).
        created, _ = await asyncio.wait_for(
            service.create_order(anyone, a_command(store_id=other_store), None), 10
        )
        moved = await asyncio.wait_for(service.transition(anyone, order_b.id, *pay), 10)
        assert not slow.done()
        async with pg_db.read() as conn:
            seen = await log.read_after(conn, start, log.EventQuery(), 100)
        assert [(e.order_id, e.version) for e in seen] == [(created.id, 1), (order_b.id, 2)]
    finally:
        release.set()
    paid = await slow

    assert (moved.version, paid.version) == (2, 2)
    async with pg_db.read() as conn:
        everything = await log.read_after(conn, start, log.EventQuery(), 100)
    # The late commit is numbered after the writes it did not hold back, and nothing is missed.
    assert [(e.order_id, e.version) for e in everything] == [
        (created.id, 1),
        (order_b.id, 2),
        (slow_order.id, 2),
    ]
    assert [e.position for e in everything] == [start + 1, start + 2, start + 3]


async def test_an_event_a_writer_left_unnumbered_reaches_subscribers_of_a_server(
    postgres_url: str, store_id: str
) -> None:
    """A writer that commits and dies before its sequencer pass: a server's poll numbers it."""
    db = Database(postgres_url, pool_size=2)
    try:
        order, _ = await OrderService(db).create_order(
            Principal.trusted("t"), a_command(store_id=store_id), None
        )
        variables = {"filter": {"storeIds": [store_id]}, "fromStart": True}
        with running_server(postgres_url) as server:
            async with subscribe(server.ws_url, SKINNY, variables) as events:
                assert (await events.next())["version"] == 1
                async with db.write() as conn:  # the change, without the service's pass
                    current = await store.get_order(conn, order.id, for_update=True)
                    assert current is not None
                    updated = await writes.update_order(conn, current, {"remark": "x"}, utc_now())
                    await log.append(conn, EventType.UPDATED, current, updated, "died")
                late = await events.next(within=10)
            async with httpx.AsyncClient() as http:
                metrics = (await http.get(server.http_url.replace("/graphql", "/metrics"))).text
    finally:
        await db.dispose()

    assert (late["type"], late["version"], late["actor"]) == ("UPDATED", 2, "died")
    assert "order_graph_events_positioned_total 1.0" in metrics
    lag = re.search(r"^order_graph_event_sequencer_lag_seconds (\S+)$", metrics, re.M)
    assert lag is not None
    assert float(lag.group(1)) >= 0
