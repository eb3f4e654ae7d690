"""Key look-ups and their cache against PostgreSQL: what costs a database query and what not."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import event

from order_graph.api.auth import Authenticator, Unauthenticated
from order_graph.api.key_cache import UNKNOWN_KEYS
from order_graph.domain.access import Principal, Scope
from order_graph.service import utc_now
from order_graph.storage import clients
from order_graph.storage.database import Database

pytestmark = pytest.mark.postgres


@pytest.fixture
async def db(postgres_url: str) -> AsyncIterator[Database]:
    database = Database(postgres_url, pool_size=2)
    yield database
    await database.dispose()


@pytest.fixture
def queries(db: Database) -> Iterator[list[str]]:
    """The statements the database is sent from here on."""
    sent: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    yield sent
    event.remove(db.engine.sync_engine, "before_cursor_execute", count)


async def a_client(db: Database) -> str:
    key = clients.new_key()
    principal = Principal(f"cache-{uuid.uuid4().hex[:8]}", frozenset({Scope.ORDERS_READ}))
    async with db.write() as conn:
        await clients.create(conn, principal, key, utc_now())
    return key


def random_key() -> str:
    """Shaped like a real key, so only the database can tell it is unknown."""
    return clients.KEY_PREFIX + secrets.token_urlsafe(32)


async def refused(auth: Authenticator, key: str) -> bool:
    try:
        await auth.principal(f"Bearer {key}", None)
    except Unauthenticated:
        return True
    return False


async def test_a_flood_of_unknown_keys_never_evicts_a_real_client(
    db: Database, queries: list[str]
) -> None:
    auth = Authenticator(db, required=True, cache_seconds=300)
    real = await a_client(db)
    assert not await refused(auth, real)
    flood = [random_key() for _ in range(UNKNOWN_KEYS + 1)]
    for key in flood:
        assert await refused(auth, key)
    queries.clear()
    assert not await refused(auth, real)
    assert queries == []  # still remembered
    # The unknown keys are bounded: the oldest one was forgotten, the newest one was not.
    assert await refused(auth, flood[-1])
    assert queries == []
    assert await refused(auth, flood[0])
    assert len(queries) == 1


async def test_an_unknown_key_costs_one_query_per_cache_period(
    db: Database, queries: list[str]
) -> None:
    auth = Authenticator(db, required=True, cache_seconds=300)
    key = random_key()
    for _ in range(3):
        assert await refused(auth, key)
    assert len(queries) == 1


async def test_a_key_of_another_shape_is_refused_without_a_query(
    db: Database, queries: list[str]
) -> None:
    auth = Authenticator(db, required=True, cache_seconds=300)
    for key in ("og_not-a-key", "x" * 46, (await a_client(db))[:-1] + "!"):
        assert await refused(auth, key)
    assert [q for q in queries if "clients" in q and q.startswith("SELECT")] == []
