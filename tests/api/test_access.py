"""Who may read and change which orders: every operation x (own store, other store, no scope)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from order_graph.app import create_app
from order_graph.config import Settings
from order_graph.domain.access import Principal, Scope
from order_graph.service import utc_now
from order_graph.storage import clients
from order_graph.storage.database import Database
from tests.api.conftest import CREATE, DEFINE_SUB_STATUS, TRANSITION, order_input
from tests.conftest import GraphQLClient

ORDER = "query($id: ID!) { order(id: $id) { id version } }"
NODE = "query($id: ID!) { node(id: $id) { id } }"
BY_IDS = "query($id: ID!) { ordersByIds(ids: [$id]) { id } }"
BY_REF = "query($p: String!, $o: String!) { orderByExternalRef(platform: $p, orderId: $o) { id } }"
LIST = "query($s: ID!) { orders(filter: {storeIds: [$s]}) { edges { node { id } } } }"
LIST_ALL = "query { orders(first: 100) { edges { node { storeId } } } }"
EVENTS = "query { orderEvents(first: 500) { edges { node { storeId orderId } } } }"
SUB = """mutation($input: SetSubStatusInput!) { setSubStatus(input: $input) {
  order { version } errors { code } } }"""
DISCOUNTS = """mutation($input: ReplaceDiscountsInput!) { replaceDiscounts(input: $input) {
  order { version } errors { code } } }"""
UPDATE = """mutation($input: UpdateOrderInput!) { updateOrder(input: $input) {
  order { version } errors { code } } }"""
CHANGE_ITEMS = """mutation($input: ChangeItemsInput!) { changeItems(input: $input) {
  order { version } errors { code } } }"""
CANCEL_ITEMS = """mutation($input: CancelItemsInput!) { cancelItems(input: $input) {
  order { version } errors { code } } }"""
READ_SCOPES = frozenset({Scope.ORDERS_READ, Scope.EVENTS_READ})
ALL_BUT_ADMIN = frozenset(Scope) - {Scope.ADMIN}


@dataclass
class World:
    http: httpx.AsyncClient
    db: Database
    store: str
    other_store: str
    order_id: str
    external_id: str

    async def client(self, scopes: frozenset[Scope], stores: list[str] | None) -> AuthedClient:
        key = clients.new_key()
        name = f"app-{uuid.uuid4().hex[:8]}"
        principal = Principal(name, scopes, None if stores is None else frozenset(stores))
        async with self.db.write() as conn:
            await clients.create(conn, principal, key, utc_now())
        return AuthedClient(self.http, name, key)

    async def version(self) -> int:
        admin = await self.client(frozenset({Scope.ADMIN}), None)
        return int((await admin.execute(ORDER, {"id": self.order_id}))["order"]["version"])


class AuthedClient(GraphQLClient):
    def __init__(self, http: httpx.AsyncClient, name: str, key: str) -> None:
        super().__init__(http, client_id="ignored-when-auth-is-on")
        self.name = name
        self.key = key

    async def raw(
        self, query: str, variables: dict[str, Any] | None = None, **headers: str
    ) -> dict[str, Any]:
        return await super().raw(query, variables, authorization=f"Bearer {self.key}", **headers)


@pytest.fixture(scope="session")
async def secure_app(database_url: str) -> AsyncIterator[Any]:
    app = create_app(Settings(database_url=database_url, auth="required", auth_cache_seconds=0))
    yield app
    await app.state.db.dispose()


@pytest.fixture
async def world(secure_app: Any, store_id: str) -> AsyncIterator[World]:
    transport = httpx.ASGITransport(app=secure_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://order-graph") as http:
        world = World(http, secure_app.state.db, store_id, store_id + "-other", "", "")
        admin = await world.client(frozenset({Scope.ADMIN}), None)
        world.external_id = f"ext-{uuid.uuid4().hex}"
        ref = {"platform": "meituan", "orderId": world.external_id}
        created = await admin.execute(CREATE, {"input": order_input(store_id, externalRef=ref)})
        world.order_id = created["createOrder"]["order"]["id"]
        await admin.execute(CREATE, {"input": order_input(world.other_store)})
        await admin.execute(
            DEFINE_SUB_STATUS, {"input": {"mainStatus": "CREATED", "code": "ACCESS_CHECK"}}
        )
        yield world


Outcome = str  # "ok", "hidden" (null / filtered out), "forbidden", "not_found"
Operation = Callable[[GraphQLClient, World], Awaitable[Outcome]]


def _forbidden(body: dict[str, Any]) -> bool:
    return any(e.get("extensions", {}).get("code") == "FORBIDDEN" for e in body.get("errors", []))


def read(query: str, variables: Callable[[World], dict[str, Any]], found: Callable[[Any], bool]):
    async def run(client: GraphQLClient, world: World) -> Outcome:
        body = await client.raw(query, variables(world))
        if _forbidden(body):
            return "forbidden"
        assert "errors" not in body, body
        return "ok" if found(body["data"]) else "hidden"

    return run


def mutation(query: str, field: str, variables: Callable[[World], dict[str, Any]]):
    async def run(client: GraphQLClient, world: World) -> Outcome:
        body = await client.raw(query, variables(world))
        assert "errors" not in body, body
        errors = body["data"][field]["errors"]
        return errors[0]["code"].lower() if errors else "ok"

    return run


async def cancel_items(client: GraphQLClient, world: World) -> Outcome:
    """On a paid order of the world's store (the world's own order is not paid)."""
    admin = await world.client(frozenset({Scope.ADMIN}), None)
    input = order_input(world.store, initialStatus="PAID")
    order = (await admin.execute(CREATE, {"input": input}))["createOrder"]["order"]
    lines = [{"itemId": order["items"][0]["id"], "quantity": 1}]
    cancel = {"orderId": order["id"], "lines": lines, "reason": "x", "refundAmount": "0"}
    return await mutation(CANCEL_ITEMS, "cancelItems", lambda w: {"input": cancel})(client, world)


OPERATIONS: dict[str, tuple[Scope, Operation]] = {
    "order": (
        Scope.ORDERS_READ,
        read(ORDER, lambda w: {"id": w.order_id}, lambda d: d["order"] is not None),
    ),
    "node": (
        Scope.ORDERS_READ,
        read(NODE, lambda w: {"id": w.order_id}, lambda d: d["node"] is not None),
    ),
    "ordersByIds": (
        Scope.ORDERS_READ,
        read(BY_IDS, lambda w: {"id": w.order_id}, lambda d: d["ordersByIds"] != [None]),
    ),
    "orderByExternalRef": (
        Scope.ORDERS_READ,
        read(
            BY_REF,
            lambda w: {"p": "meituan", "o": w.external_id},
            lambda d: d["orderByExternalRef"] is not None,
        ),
    ),
    "orders": (
        Scope.ORDERS_READ,
        read(LIST, lambda w: {"s": w.store}, lambda d: len(d["orders"]["edges"]) == 1),
    ),
    "orderEvents": (
        Scope.EVENTS_READ,
        read(
            EVENTS.replace("first: 500", "first: 500, filter: {storeIds: [$s]}").replace(
                "query {", "query($s: ID!) {"
            ),
            lambda w: {"s": w.store},
            lambda d: len(d["orderEvents"]["edges"]) >= 1,
        ),
    ),
    "createOrder": (
        Scope.ORDERS_CREATE,
        mutation(CREATE, "createOrder", lambda w: {"input": order_input(w.store)}),
    ),
    "transitionOrder": (
        Scope.ORDERS_TRANSITION,
        mutation(
            TRANSITION,
            "transitionOrder",
            lambda w: {"input": {"orderId": w.order_id, "to": "PAID"}},
        ),
    ),
    "setSubStatus": (
        Scope.ORDERS_TRANSITION,
        mutation(
            SUB,
            "setSubStatus",
            lambda w: {"input": {"orderId": w.order_id, "subStatus": "ACCESS_CHECK"}},
        ),
    ),
    "replaceDiscounts": (
        Scope.ORDERS_UPDATE,
        mutation(
            DISCOUNTS,
            "replaceDiscounts",
            lambda w: {
                "input": {
                    "orderId": w.order_id,
                    "discounts": [{"kind": "COUPON", "amount": "1.00"}],
                }
            },
        ),
    ),
    "updateOrder": (
        Scope.ORDERS_UPDATE,
        mutation(
            UPDATE, "updateOrder", lambda w: {"input": {"orderId": w.order_id, "remark": "x"}}
        ),
    ),
    "changeItems": (
        Scope.ORDERS_UPDATE,
        mutation(
            CHANGE_ITEMS,
            "changeItems",
            lambda w: {
                "input": {
                    "orderId": w.order_id,
                    "add": [{"skuId": "tea", "name": "Tea", "quantity": 1, "unitPrice": "1.00"}],
                    "discounts": [],
                }
            },
        ),
    ),
    "cancelItems": (Scope.ORDERS_UPDATE, cancel_items),
    "defineSubStatus": (
        Scope.ADMIN,
        mutation(
            DEFINE_SUB_STATUS,
            "defineSubStatus",
            lambda w: {
                "input": {"mainStatus": "PAID", "code": "X_" + uuid.uuid4().hex[:6].upper()}
            },
        ),
    ),
}

# What a client bound to another store gets: reads see nothing, changes to an existing order
# find nothing, a new order for a store it is not bound to is refused.
OTHER_STORE = {
    "createOrder": "forbidden",
    "transitionOrder": "not_found",
    "setSubStatus": "not_found",
    "replaceDiscounts": "not_found",
    "updateOrder": "not_found",
    "changeItems": "not_found",
    "cancelItems": "not_found",
    "defineSubStatus": "forbidden",
}


@pytest.mark.parametrize("operation", list(OPERATIONS))
async def test_a_client_bound_to_the_store_may(world: World, operation: str) -> None:
    scope, run = OPERATIONS[operation]
    scopes = frozenset({Scope.ADMIN}) if scope is Scope.ADMIN else ALL_BUT_ADMIN
    client = await world.client(scopes, None if scope is Scope.ADMIN else [world.store])
    assert await run(client, world) == "ok"


@pytest.mark.parametrize("operation", list(OPERATIONS))
async def test_a_client_bound_to_another_store_sees_and_changes_nothing(
    world: World, operation: str
) -> None:
    _, run = OPERATIONS[operation]
    client = await world.client(ALL_BUT_ADMIN, [world.other_store])
    before = await world.version()
    assert await run(client, world) == OTHER_STORE.get(operation, "hidden")
    assert await world.version() == before


@pytest.mark.parametrize("operation", list(OPERATIONS))
async def test_a_client_without_the_scope_is_forbidden(world: World, operation: str) -> None:
    scope, run = OPERATIONS[operation]
    client = await world.client(frozenset(Scope) - {scope, Scope.ADMIN}, [world.store])
    before = await world.version()
    assert await run(client, world) == "forbidden"
    assert await world.version() == before


async def test_bound_clients_list_only_their_stores(world: World) -> None:
    client = await world.client(READ_SCOPES, [world.store])
    orders = (await client.execute(LIST_ALL))["orders"]["edges"]
    events = (await client.execute(EVENTS))["orderEvents"]["edges"]
    assert {edge["node"]["storeId"] for edge in orders} == {world.store}
    assert {edge["node"]["storeId"] for edge in events} == {world.store}


async def test_the_actor_is_the_authenticated_client_not_the_header(world: World) -> None:
    client = await world.client(ALL_BUT_ADMIN, None)
    body = await client.raw(
        TRANSITION,
        {"input": {"orderId": world.order_id, "to": "PAID"}},
        **{"x-client-id": "someone-else"},
    )
    history = body["data"]["transitionOrder"]["order"]["statusHistory"]
    assert history[-1]["actor"] == client.name


async def test_requests_without_a_valid_key_are_refused(world: World) -> None:
    for headers in ({}, {"authorization": "Bearer og_not-a-key"}, {"authorization": "Basic x"}):
        response = await world.http.post(
            "/graphql", json={"query": "{ __typename }"}, headers=headers
        )
        assert response.status_code == 401
        assert response.json()["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}


async def test_a_revoked_key_stops_working(world: World) -> None:
    client = await world.client(READ_SCOPES, None)
    assert (await client.execute("{ __typename }")) == {"__typename": "Query"}
    async with world.db.write() as conn:
        assert await clients.revoke(conn, client.name, utc_now())
    response = await world.http.post(
        "/graphql",
        json={"query": "{ __typename }"},
        headers={"authorization": f"Bearer {client.key}"},
    )
    assert response.status_code == 401


async def test_an_external_ref_of_another_store_reveals_nothing(world: World) -> None:
    client = await world.client(ALL_BUT_ADMIN, [world.other_store])
    ref = {"platform": "meituan", "orderId": world.external_id}
    body = await client.raw(CREATE, {"input": order_input(world.other_store, externalRef=ref)})
    payload = body["data"]["createOrder"]
    assert payload["order"] is None
    assert [e["code"] for e in payload["errors"]] == ["FORBIDDEN"]
