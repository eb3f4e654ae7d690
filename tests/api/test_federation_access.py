"""Scopes and store binding on the subgraph, with real keys: entities see exactly what
`Query.order` and `Query.orders` would."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from order_graph.app import create_app
from order_graph.config import Settings
from order_graph.domain.access import Principal, Scope
from order_graph.service import utc_now
from order_graph.storage import clients
from tests.api.conftest import CREATE, order_input
from tests.support.subgraph import entities, missing_order, order_ref

ORDER = "... on Order { id storeId }"
ORDERS = "... on Store { id orders { edges { node { id } } } } "
CUSTOMER_ORDERS = "... on Customer { orders { edges { node { storeId } } } }"


@dataclass
class Stores:
    http: httpx.AsyncClient
    app: Any
    store: str
    other_store: str
    customer: str
    order_id: str
    other_order_id: str

    async def key(self, scopes: frozenset[Scope], stores: list[str] | None) -> str:
        key = clients.new_key()
        principal = Principal(
            f"router-{uuid.uuid4().hex[:8]}", scopes, None if stores is None else frozenset(stores)
        )
        async with self.app.state.db.write() as conn:
            await clients.create(conn, principal, key, utc_now())
        return key

    async def subgraph(self, key: str, selection: str, representations: list[Any]) -> Any:
        response = await self.http.post(
            "/subgraph",
            json={"query": entities(selection), "variables": {"r": representations}},
            headers={"authorization": f"Bearer {key}"},
        )
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
async def secure_app(database_url: str) -> AsyncIterator[Any]:
    settings = Settings(
        database_url=database_url, auth="required", auth_cache_seconds=0, db_pool_size=2
    )
    app = create_app(settings)
    yield app
    await app.state.db.dispose()


@pytest.fixture
async def stores(secure_app: Any, store_id: str) -> AsyncIterator[Stores]:
    transport = httpx.ASGITransport(app=secure_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://order-graph") as http:
        world = Stores(http, secure_app, store_id, store_id + "-other", f"c-{store_id}", "", "")
        admin = {"authorization": f"Bearer {await world.key(frozenset({Scope.ADMIN}), None)}"}
        made = []
        for store in (world.store, world.other_store):
            variables = {"input": order_input(store, customerId=world.customer)}
            response = await http.post(
                "/graphql", json={"query": CREATE, "variables": variables}, headers=admin
            )
            made.append(response.json()["data"]["createOrder"]["order"]["id"])
        world.order_id, world.other_order_id = made
        yield world


async def test_another_stores_order_reads_as_null_exactly_like_a_missing_one(
    stores: Stores,
) -> None:
    key = await stores.key(frozenset({Scope.ORDERS_READ}), [stores.store])
    representations = [
        order_ref(stores.order_id),
        order_ref(stores.other_order_id),
        order_ref(missing_order()),
    ]

    body = await stores.subgraph(key, ORDER, representations)

    assert body == {
        "data": {"_entities": [{"id": stores.order_id, "storeId": stores.store}, None, None]},
        "extensions": body["extensions"],
    }


async def test_store_binding_narrows_the_orders_of_stores_and_customers(stores: Stores) -> None:
    key = await stores.key(frozenset({Scope.ORDERS_READ}), [stores.store])
    representations = [
        {"__typename": "Store", "id": stores.store},
        {"__typename": "Store", "id": stores.other_store},
        {"__typename": "Customer", "id": stores.customer},
    ]

    found = await stores.subgraph(key, ORDERS + CUSTOMER_ORDERS, representations)

    assert found["data"]["_entities"] == [
        {"id": stores.store, "orders": {"edges": [{"node": {"id": stores.order_id}}]}},
        {"id": stores.other_store, "orders": {"edges": []}},
        {"orders": {"edges": [{"node": {"storeId": stores.store}}]}},
    ]
    assert "errors" not in found


async def test_without_orders_read_every_order_is_forbidden_but_a_store_reference_is_not(
    stores: Stores,
) -> None:
    key = await stores.key(frozenset({Scope.ORDERS_CREATE}), None)
    representations = [
        order_ref(stores.order_id),
        {"__typename": "Store", "id": stores.store},
        order_ref(missing_order()),
    ]

    by_key = await stores.subgraph(key, ORDER + " ... on Store { id }", representations)
    orders = await stores.subgraph(key, ORDERS, representations[1:2])

    assert by_key["data"]["_entities"] == [None, {"id": stores.store}, None]
    assert [(e["path"], e["extensions"]["code"]) for e in by_key["errors"]] == [
        (["_entities", 0], "FORBIDDEN"),
        (["_entities", 2], "FORBIDDEN"),
    ]
    assert orders["data"]["_entities"] == [None]
    assert [e["extensions"]["code"] for e in orders["errors"]] == ["FORBIDDEN"]


async def test_the_subgraph_refuses_a_request_without_a_valid_key(stores: Stores) -> None:
    for headers in ({}, {"authorization": "Bearer og_not-a-key"}):
        response = await stores.http.post(
            "/subgraph", json={"query": "{ _service { sdl } }"}, headers=headers
        )
        assert response.status_code == 401
        assert response.json()["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}
