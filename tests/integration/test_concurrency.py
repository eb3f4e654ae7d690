"""Races on PostgreSQL: many requests at once through the app, each on its own connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from order_graph.app import create_app
from order_graph.config import Settings
from tests.api.conftest import CREATE, TRANSITION, order_input
from tests.conftest import GraphQLClient


@pytest.fixture
async def pg(postgres_url: str) -> AsyncIterator[GraphQLClient]:
    app = create_app(Settings(database_url=postgres_url, db_pool_size=25, auth="off"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://order-graph") as http:
        yield GraphQLClient(http)
    await app.state.db.dispose()


async def _create(gql: GraphQLClient, input: dict[str, Any], key: str | None) -> Any:
    return (await gql.execute(CREATE, {"input": input, "key": key}))["createOrder"]


async def test_twenty_creates_with_one_key_make_one_order(pg: GraphQLClient, store_id: str) -> None:
    input = order_input(store_id)
    results = await asyncio.gather(*(_create(pg, input, "checkout-42") for _ in range(20)))

    assert all(r["errors"] == [] for r in results)
    assert {r["order"]["id"] for r in results} == {results[0]["order"]["id"]}
    assert sum(r["created"] for r in results) == 1
    listed = await pg.execute(
        "query($s: ID!) { orders(filter: {storeIds: [$s]}) { edges { node { id } } } }",
        {"s": store_id},
    )
    assert len(listed["orders"]["edges"]) == 1


async def test_twenty_creates_of_one_external_order_make_one_order(
    pg: GraphQLClient, store_id: str
) -> None:
    input = order_input(store_id, externalRef={"platform": "meituan", "orderId": store_id})
    results = await asyncio.gather(*(_create(pg, input, None) for _ in range(20)))

    assert len({r["order"]["id"] for r in results}) == 1
    assert sum(r["created"] for r in results) == 1


async def test_twenty_transitions_at_one_version_give_one_success(
    pg: GraphQLClient, store_id: str
) -> None:
    order = (await _create(pg, order_input(store_id), None))["order"]
    variables = {"input": {"orderId": order["id"], "to": "PAID", "expectedVersion": 1}}

    results = await asyncio.gather(*(pg.execute(TRANSITION, variables) for _ in range(20)))

    payloads = [r["transitionOrder"] for r in results]
    winners = [p for p in payloads if not p["errors"]]
    conflicts = [p["errors"][0] for p in payloads if p["errors"]]
    assert len(winners) == 1
    assert len(conflicts) == 19
    assert {(c["code"], c["currentVersion"]) for c in conflicts} == {("VERSION_CONFLICT", 2)}
    history = winners[0]["order"]["statusHistory"]
    assert [h["toMainStatus"] for h in history] == ["CREATED", "PAID"]


async def test_retries_of_one_transition_all_return_its_result(
    pg: GraphQLClient, store_id: str
) -> None:
    order = (await _create(pg, order_input(store_id), None))["order"]
    variables = {"input": {"orderId": order["id"], "to": "PAID"}, "key": "pay-1"}

    results = await asyncio.gather(*(pg.execute(TRANSITION, variables) for _ in range(20)))

    payloads = [r["transitionOrder"] for r in results]
    assert all(p["errors"] == [] for p in payloads)
    assert {p["order"]["version"] for p in payloads} == {2}
