"""Compiled mutations answer as the standard executor does, errors included, and they do
answer: each step runs on a fresh order through an app with the fast lane and through one
without, and the answers must agree (ids and clocks aside) while the compiled path's counter
of answers grows by one per request of the fast app."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from order_graph.app import create_app
from order_graph.config import Settings
from order_graph.domain.access import Principal, Scope
from order_graph.service import utc_now
from order_graph.storage import clients
from tests.api.conftest import ERRORS, order_input
from tests.conftest import FRAGMENTS

# The tier fragments, each spreading the one before: a document carries those it uses.
TIERS = ["fragment " + text for text in FRAGMENTS.split("\nfragment ")[1:]]
SUMMARY, STANDARD = TIERS[0], "\n".join(TIERS[:2])
CREATE = FRAGMENTS + (
    "mutation C($input: CreateOrderInput!, $key: String) {"
    " createOrder(input: $input, idempotencyKey: $key) {"
    f" __typename created made: created order {{ ...OrderFull }} {ERRORS} }} }}"
)
CREATE_SMALL = SUMMARY + (
    "mutation CreateSmall($input: CreateOrderInput!) { createOrder(input: $input) {"
    " order { ...OrderSummary items { skuId } } errors { code field } } }"
)
MOVE = SUMMARY + (
    "mutation M($input: TransitionOrderInput!, $key: String) {"
    " transitionOrder(input: $input, idempotencyKey: $key) {"
    f" order {{ ...OrderSummary }} {ERRORS} }} }}"
)
MOVE_FULL = FRAGMENTS + (
    "mutation MoveFull($input: TransitionOrderInput!) { transitionOrder(input: $input) {"
    f" __typename order {{ ...OrderFull }} e: {ERRORS} }} }}"
)
SUB = STANDARD + (
    "mutation S($input: SetSubStatusInput!) { setSubStatus(input: $input) {"
    f" order {{ ...OrderStandard statusHistory {{ toSubStatus }} }} {ERRORS} }} }}"
)
UPDATE = SUMMARY + (
    "mutation U($input: UpdateOrderInput!) { updateOrder(input: $input) {"
    f" order {{ ...OrderSummary remark attributes changes {{ kind }} }} {ERRORS} }} }}"
)
VOLATILE = {"id", "itemId", "orderNo", "createdAt", "updatedAt", "occurredAt"}
ALL = frozenset(Scope) - {Scope.ADMIN}


def stable(value: Any) -> Any:
    """The answer without what differs between two orders: ids and clock readings."""
    if isinstance(value, dict):
        return {k: ("*" if k in VOLATILE and v else stable(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [stable(v) for v in value]
    if isinstance(value, str) and value.startswith("Not an order id"):
        return "Not an order id"
    return value


def answered() -> float:
    found = REGISTRY.get_sample_value("order_graph_compiled_queries_total", {"outcome": "answered"})
    return found or 0.0


class Pair:
    """The same caller on both apps."""

    def __init__(self, fast: httpx.AsyncClient, slow: httpx.AsyncClient, key: str) -> None:
        self.fast, self.slow, self.key = fast, slow, key

    async def post(self, http: httpx.AsyncClient, query: str, variables: Any) -> Any:
        headers = {"authorization": f"Bearer {self.key}"}
        response = await http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def both(self, query: str, fast_vars: Any, slow_vars: Any) -> Any:
        """Sends to both apps; the fast one must answer through the compiled path."""
        expected = await self.post(self.slow, query, slow_vars)
        before = answered()
        actual = await self.post(self.fast, query, fast_vars)
        assert answered() - before == 1, actual
        assert stable(actual) == stable(expected)
        return actual


@pytest.fixture
async def apps(database_url: str) -> AsyncIterator[Any]:
    made = [
        create_app(Settings(database_url=database_url, auth="required", auth_cache_seconds=0)),
        create_app(
            Settings(
                database_url=database_url,
                auth="required",
                auth_cache_seconds=0,
                compiled_queries=False,
            )
        ),
    ]
    https = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://og")
        for app in made
    ]
    yield made[0].state.db, https[0], https[1]
    for http, app in zip(https, made, strict=True):
        await http.aclose()
        await app.state.db.dispose()


async def caller(apps: Any, scopes: frozenset[Scope], stores: list[str] | None) -> Pair:
    db, fast, slow = apps
    key = clients.new_key()
    principal = Principal(
        f"m-{uuid.uuid4().hex[:8]}", scopes, None if stores is None else frozenset(stores)
    )
    async with db.write() as conn:
        await clients.create(conn, principal, key, utc_now())
    return Pair(fast, slow, key)


async def test_mutations_answer_as_the_executor_does(apps: Any, store_id: str) -> None:
    admin = await caller(apps, frozenset({Scope.ADMIN}), None)
    sub = f"S_{uuid.uuid4().hex[:8].upper()}"
    define = (
        "mutation($input: DefineSubStatusInput!) { defineSubStatus(input: $input) {"
        " errors { code } } }"
    )
    await admin.post(admin.slow, define, {"input": {"mainStatus": "PAID", "code": sub}})
    bad = order_input(store_id, currency="XXX", items=[{"skuId": "a", "name": " ",
                      "quantity": 0, "unitPrice": "-1"}])  # fmt: skip
    nowhere = {"orderId": "not-an-id", "to": "PAID"}
    # The fast app's executor runs each document once (a harmless refusal) and enters its plan.
    for query, variables in (
        (CREATE, {"input": bad}),
        (CREATE_SMALL, {"input": bad}),
        (MOVE, {"input": nowhere}),
        (MOVE_FULL, {"input": nowhere}),
        (SUB, {"input": {"orderId": "not-an-id"}}),
        (UPDATE, {"input": {"orderId": "not-an-id"}}),
    ):
        await admin.post(admin.fast, query, variables)

    base = order_input(
        store_id,
        discounts=[{"kind": "COUPON", "amount": "1.00", "itemIndex": 1, "code": "C1"}],
        remark="less ice",
        attributes={"table": 4},
        deliveryFee="3.00",
    )
    for path, http in (("fast", admin.fast), ("slow", admin.slow)):
        await admin.post(http, CREATE, {"input": base, "key": f"k-{path}"})
    # A replay of a create, a reused key, invalid input.
    replay = await admin.both(
        CREATE, {"input": base, "key": "k-fast"}, {"input": base, "key": "k-slow"}
    )
    assert replay["data"]["createOrder"]["created"] is False
    other = {**base, "remark": "other"}
    reused = await admin.both(
        CREATE, {"input": other, "key": "k-fast"}, {"input": other, "key": "k-slow"}
    )
    assert reused["data"]["createOrder"]["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    invalid = await admin.both(CREATE, {"input": bad}, {"input": bad})
    assert len(invalid["data"]["createOrder"]["errors"]) > 2
    created = await admin.both(CREATE, {"input": base}, {"input": base})
    assert created["data"]["createOrder"]["created"] is True
    made = await admin.both(CREATE_SMALL, {"input": base}, {"input": base})
    assert made["data"]["createOrder"]["order"]["items"]

    async def fresh() -> tuple[str, str]:
        ids = []
        for http in (admin.fast, admin.slow):
            body = await admin.post(http, CREATE_SMALL, {"input": base})
            ids.append(body["data"]["createOrder"]["order"]["id"])
        return ids[0], ids[1]

    a, b = await fresh()

    async def move(query: str, key: str | None = None, who: Pair = admin, **fields: Any) -> Any:
        def variables(order: str, path: str) -> Any:
            found: dict[str, Any] = {"input": {"orderId": order, **fields}}
            if key is not None:
                found["key"] = f"{key}-{path}"
            return found

        return await who.both(query, variables(a, "fast"), variables(b, "slow"))

    paid = await move(MOVE, key="t1", to="PAID", reason="paid at the till")
    assert paid["data"]["transitionOrder"]["errors"] == []
    again = await move(MOVE, key="t1", to="PAID", reason="paid at the till")  # replayed
    assert again["data"]["transitionOrder"]["errors"] == []
    assert (await move(MOVE, key="t1", to="CANCELLED"))["data"]["transitionOrder"]["errors"]
    stale = await move(MOVE_FULL, to="ACCEPTED", expectedVersion=1)
    assert stale["data"]["transitionOrder"]["e"][0]["code"] == "VERSION_CONFLICT"
    assert stale["data"]["transitionOrder"]["order"]["items"]
    wrong = await move(MOVE, to="CREATED")
    assert wrong["data"]["transitionOrder"]["errors"][0]["code"] == "INVALID_TRANSITION"
    await move(MOVE, to="PAID", subStatus="NOPE")
    assert (await move(SUB, subStatus=sub))["data"]["setSubStatus"]["errors"] == []
    await move(SUB, subStatus="NOPE", reason="x" * 5000)
    await move(MOVE_FULL, to="ACCEPTED", reason="on it")
    # A remark left out is kept, null clears it; attributes merge; a stale version.
    kept = await move(UPDATE, attributes={"table": None, "seat": 2})
    assert kept["data"]["updateOrder"]["order"]["remark"] == "less ice"
    cleared = await move(UPDATE, remark=None, expectedVersion=5)
    assert cleared["data"]["updateOrder"]["order"]["remark"] is None
    await move(UPDATE, remark="x", expectedVersion=1, attributes=[1])
    bad_id = await admin.both(MOVE, {"input": nowhere}, {"input": nowhere})
    assert bad_id["data"]["transitionOrder"]["errors"][0]["code"] == "VALIDATION"

    # Refused scopes, another store, a caller who may change but not read.
    reader = await caller(apps, frozenset({Scope.ORDERS_READ}), [store_id])
    refused = await move(MOVE, to="FULFILLING", who=reader)
    assert refused["data"]["transitionOrder"]["errors"][0]["code"] == "FORBIDDEN"
    elsewhere = await caller(apps, ALL, [store_id + "-other"])
    hidden = await move(MOVE, to="FULFILLING", who=elsewhere)
    assert hidden["data"]["transitionOrder"]["errors"][0]["code"] == "NOT_FOUND"
    blind = await caller(apps, frozenset({Scope.ORDERS_TRANSITION}), [store_id])
    moved = await move(MOVE, to="FULFILLING", who=blind)
    assert moved["data"]["transitionOrder"] == {"order": None, "errors": []}
    foreign = await elsewhere.both(CREATE_SMALL, {"input": base}, {"input": base})
    assert foreign["data"]["createOrder"]["errors"][0]["code"] == "FORBIDDEN"
