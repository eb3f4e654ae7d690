"""Migration 0004 on a database that already holds orders: they read as nothing cancelled and
nothing refunded, and can be cancelled from then on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text

from order_graph.api import ids
from order_graph.app import create_app
from order_graph.config import Settings
from order_graph.storage.database import Database
from order_graph.storage.migrate import SCRIPTS
from tests.api.conftest import GET_ORDER
from tests.api.items_support import CANCEL_ITEMS, check_identities
from tests.conftest import GraphQLClient, fresh_database

BEFORE = "0003"  # the newest revision before item changes


def _upgrade(connection: Connection, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


@pytest.fixture(params=["postgresql", "sqlite"])
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        return
    async with fresh_database(migrated=False) as url:
        yield url


async def test_orders_stored_before_the_migration_read_and_cancel_as_usual(
    empty_url: str,
) -> None:
    db = Database(empty_url)
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(_upgrade, BEFORE)
            await conn.execute(
                text(
                    "INSERT INTO orders (id, version, store_id, channel, fulfillment_type, "
                    "currency, main_status, items_total, discount_total, delivery_fee, "
                    "packaging_fee, payable_total, attributes, created_by, created_at, updated_at)"
                    " VALUES (7, 1, 'old-store', 'POS', 'PICKUP', 'CNY', 'PAID', 5600, 0, 0, 0, "
                    "5600, '{}', 'old', :now, :now)"
                ),
                {"now": now},
            )
            await conn.execute(
                text(
                    "INSERT INTO order_items (id, order_id, position, sku_id, name, quantity, "
                    "unit_price, line_total, attributes) "
                    "VALUES (70, 7, 0, 'latte', 'Latte', 2, 2800, 5600, '{}')"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO status_changes (order_id, to_main_status, actor, occurred_at, "
                    "version) VALUES (7, 'PAID', 'old', :now, 1)"
                ),
                {"now": now},
            )
            await conn.run_sync(_upgrade, "head")
    finally:
        await db.dispose()

    app = create_app(Settings(database_url=empty_url, auth="off"))
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            gql = GraphQLClient(http)
            order_id = ids.encode("Order", 7)
            order = (await gql.execute(GET_ORDER, {"id": order_id}))["order"]
            assert order["refundedTotal"] == {"amount": "0.00", "currency": "CNY"}
            assert order["items"][0]["cancelledQuantity"] == 0
            assert order["changes"] == []
            cancel = {
                "orderId": order_id,
                "lines": [{"itemId": ids.encode("OrderItem", 70), "quantity": 1}],
                "reason": "Out of stock",
                "refundAmount": "28.00",
            }
            payload = (await gql.execute(CANCEL_ITEMS, {"input": cancel}))["cancelItems"]
            assert payload["errors"] == []
            check_identities(payload["order"])
            assert payload["order"]["payableTotal"]["amount"] == "28.00"
    finally:
        await app.state.db.dispose()
