"""The per-process hub: a subscriber that stops reading costs nothing and slows nobody."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from order_graph.domain.access import Principal
from order_graph.domain.model import EventRecord
from order_graph.events import log
from order_graph.events.hub import EventHub
from order_graph.service import Observer, OrderService
from order_graph.storage import migrate
from order_graph.storage.database import Database
from tests.unit.test_validation import a_command

EVENTS = 600
WINDOW = 50


class Poke(Observer):
    def __init__(self, hub: EventHub) -> None:
        self.hub = hub

    def committed(self) -> None:
        self.hub.poke()


@pytest.fixture
async def hub_and_service(tmp_path: Path) -> AsyncIterator[tuple[EventHub, OrderService]]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    await migrate.upgrade(db)
    hub = EventHub(db, window=WINDOW, poll_seconds=60)  # only commits wake it
    await hub.start()
    yield hub, OrderService(db, observer=Poke(hub))
    await hub.stop()
    await db.dispose()


async def test_a_stalled_subscriber_neither_holds_events_nor_delays_another(
    hub_and_service: tuple[EventHub, OrderService],
) -> None:
    hub, service = hub_and_service
    stalled = hub.follow(0, log.EventQuery())
    first = await anext_batch(stalled, service)  # it subscribed, took one batch, and stopped

    received: list[int] = []

    async def follow_everything() -> None:
        async for batch in hub.follow(0, log.EventQuery()):
            received.extend(event.position for event in batch)
            if len(received) >= EVENTS + 1:
                return

    reader = asyncio.create_task(follow_everything())
    for _ in range(EVENTS):
        await service.create_order(Principal.trusted("t"), a_command(store_id="s"), None)
    await asyncio.wait_for(reader, 30)

    assert received == list(range(1, EVENTS + 2))
    assert len(hub._window) <= WINDOW  # the hub keeps a bounded window, whoever lags
    # Its cursor moves on only when it asks for more: it stands before its first event still.
    assert hub.lag() == EVENTS + 1
    # Resumed, the stalled subscriber reads the rest from the table, in order, nothing lost.
    rest: list[int] = []
    async for batch in stalled:
        rest.extend(event.position for event in batch)
        if len(rest) >= EVENTS:
            break
    assert [first[0], *rest] == list(range(1, EVENTS + 2))
    await stalled.aclose()


async def anext_batch(
    follower: AsyncIterator[list[EventRecord]], service: OrderService
) -> list[int]:
    await service.create_order(Principal.trusted("t"), a_command(store_id="s"), None)
    batch = await anext(follower)
    return [event.position for event in batch]
