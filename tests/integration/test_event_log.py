"""The log never lets a reader skip an event that commits late (PostgreSQL, real concurrency)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest

from order_graph.domain.access import Principal
from order_graph.domain.model import EventType, OrderRecord
from order_graph.events import log
from order_graph.events.hub import EventHub
from order_graph.service import OrderService, utc_now
from order_graph.storage import orders as store
from order_graph.storage import writes
from order_graph.storage.database import Database
from tests.unit.test_validation import a_command

WRITERS = 8
CHANGES = 200


@pytest.fixture
async def pg_db(postgres_url: str) -> AsyncIterator[Database]:
    db = Database(postgres_url, pool_size=WRITERS + 4)
    yield db
    await db.dispose()


async def slow_writer(db: Database, order: OrderRecord, seed: int) -> None:
    """Changes the order CHANGES times, holding each transaction open after its position."""
    rng = random.Random(seed)
    for n in range(CHANGES):
        async with db.write() as conn:
            current = await store.get_order(conn, order.id, for_update=True)
            assert current is not None
            updated = await writes.update_order(conn, current, {"remark": f"{n}"}, utc_now())
            await log.append(conn, EventType.UPDATED, current, updated, "writer")
            if rng.random() < 0.3:
                await asyncio.sleep(rng.random() * 0.004)  # a slow commit, not synchronisation


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
            *(slow_writer(pg_db, order, seed) for seed, order in enumerate(orders)),
        )
    finally:
        await hub.stop()

    everything = list(range(start + 1, start + total + 1))
    assert polled == everything
    assert followed == everything
