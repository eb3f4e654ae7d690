"""Only the unique-key race is retried: any other constraint violation is a bug and surfaces at
once, on PostgreSQL and SQLite alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert, text
from sqlalchemy.exc import IntegrityError

from order_graph.domain.access import Principal
from order_graph.domain.model import Channel, CreateOrder, FulfillmentType, ItemInput
from order_graph.domain.status import MainStatus
from order_graph.service import OrderService, utc_now
from order_graph.storage import races
from order_graph.storage.database import Database
from order_graph.storage.migrate import upgrade
from order_graph.storage.tables import (
    clients,
    deadline_rules,
    idempotency_keys,
    orders,
    sub_status_definitions,
)
from tests.conftest import fresh_database

ACTOR = Principal.trusted("races-test")


@pytest.fixture(params=["postgresql", "sqlite"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A database of the test's own: the tests add a constraint the code does not know."""
    if request.param == "postgresql":
        async with fresh_database() as url:
            database = Database(url, pool_size=2)
            yield database
            await database.dispose()
        return
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}")
    await upgrade(database)
    yield database
    await database.dispose()


def command(external_id: str) -> CreateOrder:
    return CreateOrder(
        store_id="s-1",
        channel=Channel.MINI_PROGRAM,
        fulfillment_type=FulfillmentType.PICKUP,
        currency="CNY",
        items=(ItemInput(sku_id="latte", name="Latte", quantity=1, unit_price=Decimal("28.00")),),
        external_platform="meituan",
        external_order_id=external_id,
    )


async def violation(db: Database, table: Any, row: dict[str, Any]) -> IntegrityError:
    with pytest.raises(IntegrityError) as raised:
        async with db.write() as conn:
            await conn.execute(insert(table), row)
    return raised.value


async def test_only_the_unique_keys_that_two_requests_can_race_for_count_as_a_race(
    db: Database,
) -> None:
    service = OrderService(db)
    order, _ = await service.create_order(ACTOR, command("ext-1"), "key-1")
    await service.define_sub_status(ACTOR, MainStatus.PAID, "WAITING", None)
    async with db.read() as conn:
        stored = (await conn.execute(orders.select())).mappings().one()
        key = (await conn.execute(idempotency_keys.select())).mappings().one()
    now = utc_now()
    client = {"name": "c", "key_hash": "h", "scopes": [], "created_at": now}
    async with db.write() as conn:
        await conn.execute(insert(clients), client)

    duplicate_order = {**stored, "id": order.id + 1, "order_no": "other"}
    unknown_order = {**key, "key": "key-2", "order_id": order.id + 99}
    definition = {"main_status": "PAID", "code": "WAITING", "defined_by": "x", "created_at": now}
    assert races.is_unique_race(await violation(db, idempotency_keys, dict(key)))
    assert races.is_unique_race(await violation(db, orders, duplicate_order))
    assert races.is_unique_race(await violation(db, sub_status_definitions, definition))
    rule = {
        "code": "UNPAID",
        "main_status": "CREATED",
        "after_seconds": 900,
        "action": "MOVE",
        "target": "CANCELLED",
        "reason": "unpaid",
        "defined_by": "x",
        "defined_at": now,
    }
    async with db.write() as conn:
        await conn.execute(insert(deadline_rules), rule)
    assert races.is_unique_race(await violation(db, deadline_rules, rule))
    # Not races: another unique key, and a foreign key.
    assert not races.is_unique_race(await violation(db, clients, {**client, "key_hash": "h2"}))
    assert not races.is_unique_race(await violation(db, idempotency_keys, unknown_order))


async def test_a_violation_that_is_not_a_race_fails_the_first_attempt(db: Database) -> None:
    service = OrderService(db)
    order, _ = await service.create_order(ACTOR, command("ext-2"), None)
    # A rule the database enforces and the code forgot: a bug, never to be retried away.
    async with db.write() as conn:
        if db.is_sqlite:
            await conn.execute(
                text(
                    "CREATE TRIGGER no_boom BEFORE UPDATE ON orders WHEN NEW.remark = 'boom' "
                    "BEGIN SELECT RAISE(ABORT, 'a rule the code forgot'); END"
                )
            )
        else:
            await conn.execute(
                text("ALTER TABLE orders ADD CONSTRAINT ck_no_boom CHECK (remark <> 'boom')")
            )
    updates: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "UPDATE orders" in statement:
            updates.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        with pytest.raises(IntegrityError):
            await service.update_order(ACTOR, order.id, "boom", None, None)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert len(updates) == 1
