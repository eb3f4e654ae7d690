"""Migration 0006 on a database that already holds events: a consumer's cursor taken before the
upgrade resumes with exactly the events after it; the order tables get their store; and the
downgrade numbers whatever still waits and restores the old log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text

from order_graph.api import ids
from order_graph.app import create_app
from order_graph.config import Settings
from order_graph.domain.access import Principal
from order_graph.domain.model import EventType
from order_graph.events import log
from order_graph.service import OrderService, utc_now
from order_graph.storage import orders as store
from order_graph.storage import writes
from order_graph.storage.database import Database
from order_graph.storage.migrate import SCRIPTS
from tests.api.conftest import CREATE, TRANSITION, order_input
from tests.conftest import GraphQLClient, fresh_database
from tests.unit.test_validation import a_command

BEFORE = "0005"  # the newest revision before the sequencer
# The cursor of position 3 exactly as the service issued it before the upgrade.
OLD_CURSOR = "RXZlbnQ6Mw"
EVENTS = """query($after: String) {
  orderEvents(after: $after, first: 500) { edges { cursor node { orderId version type } } }
}"""
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
# Three orders of one store (ids 1 to 3) and five events, as version 0005 stored them.
OLD_ROWS = [
    "INSERT INTO orders (version, store_id, channel, fulfillment_type, currency, main_status,"
    " items_total, discount_total, delivery_fee, packaging_fee, payable_total, attributes,"
    " created_by, created_at, updated_at) VALUES"
    " (2, 'old-store', 'POS', 'PICKUP', 'CNY', 'CREATED', 5600, 0, 0, 0, 5600, '{}', 'old',"
    " :now, :now), (2, 'old-store', 'POS', 'PICKUP', 'CNY', 'CREATED', 5600, 0, 0, 0, 5600,"
    " '{}', 'old', :now, :now), (1, 'old-store', 'POS', 'PICKUP', 'CNY', 'CREATED', 5600, 0,"
    " 0, 0, 5600, '{}', 'old', :now, :now)",
    "INSERT INTO order_items (order_id, position, sku_id, name, quantity, unit_price,"
    " line_total, attributes) VALUES (1, 0, 'latte', 'Latte', 2, 2800, 5600, '{}')",
    "INSERT INTO status_changes (order_id, to_main_status, actor, occurred_at, version)"
    " VALUES (1, 'CREATED', 'old', :now, 1)",
    "INSERT INTO order_events (position, type, order_id, store_id, version, main_status, actor,"
    " occurred_at) VALUES (1, 'CREATED', 1, 'old-store', 1, 'CREATED', 'old', :now),"
    " (2, 'CREATED', 2, 'old-store', 1, 'CREATED', 'old', :now),"
    " (3, 'UPDATED', 1, 'old-store', 2, 'CREATED', 'old', :now),"
    " (4, 'CREATED', 3, 'old-store', 1, 'CREATED', 'old', :now),"
    " (5, 'UPDATED', 2, 'old-store', 2, 'CREATED', 'old', :now)",
    "UPDATE event_counter SET position = 5",
]


def _migrate(connection: Connection, revision: str, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(config, revision)


@pytest.fixture(params=["postgresql", "sqlite"])
async def old_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database at 0005 holding five events, a consumer having read up to the third."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        await _prepare(url)
        yield url
        return
    async with fresh_database(migrated=False) as url:
        await _prepare(url)
        yield url


async def _prepare(url: str) -> None:
    db = Database(url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(_migrate, BEFORE)
            for statement in OLD_ROWS:
                await conn.execute(text(statement), {"now": NOW})
    finally:
        await db.dispose()


async def _run(url: str, revision: str, down: bool = False) -> None:
    db = Database(url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(_migrate, revision, down)
    finally:
        await db.dispose()


async def _scalars(url: str, sql: str) -> list[Any]:
    db = Database(url)
    try:
        async with db.read() as conn:
            return list((await conn.execute(text(sql))).scalars())
    finally:
        await db.dispose()


async def test_a_cursor_from_before_the_upgrade_resumes_with_no_gap_and_no_duplicate(
    old_url: str,
) -> None:
    await _run(old_url, "head")
    app = create_app(Settings(database_url=old_url, auth="off"))
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            gql = GraphQLClient(http)
            move = {"orderId": ids.encode("Order", 1), "to": "PAID", "expectedVersion": 2}
            paid = await gql.execute(TRANSITION, {"input": move})
            assert paid["transitionOrder"]["errors"] == []
            created = await gql.execute(CREATE, {"input": order_input("old-store")})
            new_order = created["createOrder"]["order"]["id"]
            edges = (await gql.execute(EVENTS, {"after": OLD_CURSOR}))["orderEvents"]["edges"]
    finally:
        await app.state.db.dispose()

    assert [ids.decode_as("Event", edge["cursor"]) for edge in edges] == [4, 5, 6, 7]
    assert [(e["node"]["orderId"], e["node"]["version"]) for e in edges] == [
        (ids.encode("Order", 3), 1),
        (ids.encode("Order", 2), 2),
        (ids.encode("Order", 1), 3),
        (new_order, 1),
    ]
    for table in ("order_items", "status_changes"):
        stores = await _scalars(old_url, f"SELECT store_id FROM {table} WHERE order_id = 1")
        assert stores
        assert set(stores) == {"old-store"}  # backfilled, and written since


async def test_the_downgrade_numbers_waiting_events_and_keeps_every_position(
    old_url: str,
) -> None:
    await _run(old_url, "head")
    db = Database(old_url)
    try:
        service = OrderService(db)
        await service.create_order(Principal.trusted("t"), a_command(store_id="new"), None)
        async with db.write() as conn:  # a writer that died before its sequencer pass
            current = await store.get_order(conn, 3, for_update=True)
            assert current is not None
            updated = await writes.update_order(conn, current, {"remark": "late"}, utc_now())
            await log.append(conn, EventType.UPDATED, current, updated, "died")
    finally:
        await db.dispose()

    await _run(old_url, BEFORE, down=True)
    positions = await _scalars(old_url, "SELECT position FROM order_events ORDER BY position")
    assert positions == [1, 2, 3, 4, 5, 6, 7]
    assert await _scalars(old_url, "SELECT position FROM event_counter") == [7]
    last = await _scalars(old_url, "SELECT actor FROM order_events WHERE position = 7")
    assert last == ["died"]
    await _run(old_url, "head")  # and up again
    again = await _scalars(old_url, "SELECT id FROM order_events ORDER BY position")
    assert again == positions
