"""A crash inside a resolver is masked; the caller gets a request id that finds it in the log."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from order_graph.api import ids
from order_graph.app import create_app
from order_graph.config import Settings
from tests.api.conftest import CREATE, order_input

UNREACHABLE = "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere"


@pytest.fixture
async def broken() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url=UNREACHABLE, auth="off"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://order-graph") as http:
        yield http
    await app.state.db.dispose()


async def test_a_crash_is_masked_and_logged_under_the_request_id(
    broken: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    query = "query($id: ID!) { order(id: $id) { id } }"
    variables = {"id": ids.encode("Order", 1)}
    with caplog.at_level(logging.ERROR, logger="order_graph.errors"):
        response = await broken.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"x-request-id": "req-123"},
        )

    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-123"
    (error,) = response.json()["errors"]
    assert error["message"] == "Unexpected error."
    assert error["extensions"] == {"code": "INTERNAL", "requestId": "req-123"}
    (record,) = caplog.records
    assert "req-123" in record.getMessage()
    assert record.exc_info is not None


async def test_a_failed_mutation_leaks_no_sql(broken: httpx.AsyncClient) -> None:
    response = await broken.post(
        "/graphql", json={"query": CREATE, "variables": {"input": order_input("s1")}}
    )
    body = response.json()
    assert body["errors"][0]["message"] == "Unexpected error."
    assert len(body["errors"][0]["extensions"]["requestId"]) == 32  # generated when not sent
    for leak in ("INSERT", "SELECT", "asyncpg", "sqlalchemy", "Traceback"):
        assert leak not in response.text
