"""Crashes are masked and findable by request id; an unreachable database is a retryable error."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import delete, insert

from order_graph.api import ids
from order_graph.app import create_app
from order_graph.config import Settings
from order_graph.storage.database import Database
from order_graph.storage.tables import orders
from tests.api.conftest import CREATE, order_input
from tests.conftest import GraphQLClient

UNREACHABLE = "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere"
LEAKS = ("INSERT", "SELECT", "asyncpg", "sqlalchemy", "Traceback", "BOGUS")


@pytest.fixture
async def corrupt_order_id(db: Database, store_id: str) -> AsyncIterator[str]:
    number = await corrupt_order(db, store_id)
    yield ids.encode("Order", number)
    async with db.write() as conn:  # other tests list every order
        await conn.execute(delete(orders).where(orders.c.id == number))


async def corrupt_order(db: Database, store_id: str) -> int:
    """An order row no code path could write: the channel is not a Channel."""
    now = datetime.now(UTC)
    values = {
        "version": 1,
        "store_id": store_id,
        "channel": "BOGUS",
        "fulfillment_type": "PICKUP",
        "currency": "CNY",
        "main_status": "CREATED",
        "items_total": 0,
        "discount_total": 0,
        "delivery_fee": 0,
        "packaging_fee": 0,
        "payable_total": 0,
        "attributes": {},
        "created_by": "tests",
        "created_at": now,
        "updated_at": now,
    }
    async with db.write() as conn:
        return int((await conn.execute(insert(orders).returning(orders.c.id), values)).scalar_one())


async def test_a_crash_is_masked_and_logged_under_the_request_id(
    gql: GraphQLClient, corrupt_order_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    order_id = corrupt_order_id
    with caplog.at_level(logging.ERROR, logger="order_graph.errors"):
        response = await gql.http.post(
            "/graphql",
            json={
                "query": "query($id: ID!) { order(id: $id) { id } }",
                "variables": {"id": order_id},
            },
            headers={"x-request-id": "req-123"},
        )

    assert response.status_code == 200
    (error,) = response.json()["errors"]
    assert error["message"] == "Unexpected error."
    assert error["extensions"] == {"code": "INTERNAL", "requestId": "req-123"}
    for leak in LEAKS:
        assert leak not in response.text
    (record,) = caplog.records
    assert "req-123" in record.getMessage()
    assert record.exc_info is not None


@pytest.fixture
async def unreachable() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url=UNREACHABLE, auth="off"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://order-graph") as http:
        yield http
    await app.state.db.dispose()


async def test_an_unreachable_database_is_a_retryable_error(unreachable: httpx.AsyncClient) -> None:
    response = await unreachable.post(
        "/graphql", json={"query": CREATE, "variables": {"input": order_input("s1")}}
    )
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "UNAVAILABLE"
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]
    for leak in LEAKS:
        assert leak not in response.text
    ready = await unreachable.get("/readyz")
    assert ready.status_code == 503
