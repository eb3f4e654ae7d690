"""The deadline suites: a database of their own (rules are global, and a sweep fires every due
deadline in the database), the app on a clock the test moves, and GraphQL helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from order_graph.app import create_app
from order_graph.config import Settings
from order_graph.deadlines.runner import DeadlineRunner
from tests.api.conftest import CREATE, TRANSITION, order_input
from tests.conftest import GraphQLClient, _migrate, fresh_database

RULE = "code mainStatus channel fulfillmentType afterSeconds action { kind moveTo subStatus } "
RULE += "reason definedBy definedAt"
DEFINE = f"""mutation($input: DefineDeadlineInput!) {{ defineDeadline(input: $input) {{
  rule {{ {RULE} }} errors {{ code message field allowedTransitions }} }} }}"""
REMOVE = f"""mutation($code: String!) {{ removeDeadline(input: {{code: $code}}) {{
  rule {{ {RULE} }} errors {{ code message field }} }} }}"""
RULES = f"query($main: MainStatus) {{ deadlines(mainStatus: $main) {{ {RULE} }} }}"
ORDER = """query($id: ID!) { order(id: $id) {
  id version mainStatus subStatus createdAt
  deadline { at action { kind moveTo subStatus } rule { code reason } }
  statusHistory { fromMainStatus toMainStatus toSubStatus reason actor version occurredAt }
} }"""
EVENTS = """query($store: ID!) { orderEvents(filter: {storeIds: [$store]}) {
  edges { node { type orderId version mainStatus subStatus previousMainStatus actor } } } }"""
SET_SUB = """mutation($id: ID!, $sub: String) {
  setSubStatus(input: {orderId: $id, subStatus: $sub}) { order { version } errors { code } } }"""
DEFINE_SUB = """mutation($main: MainStatus!, $code: String!) {
  defineSubStatus(input: {mainStatus: $main, code: $code}) { errors { code } } }"""

UNPAID = {
    "code": "UNPAID_TIMEOUT",
    "mainStatus": "CREATED",
    "channel": "MINI_PROGRAM",
    "afterSeconds": 900,
    "moveTo": "CANCELLED",
    "reason": "PAYMENT_TIMEOUT",
}


@pytest.fixture(scope="package", params=["postgresql", "sqlite"])
async def deadline_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    if request.param == "postgresql":
        async with fresh_database() as url:
            yield url
        return
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('deadlines') / 'orders.db'}"
    await _migrate(url)
    yield url


class FakeClock:
    """The service's and the runner's time, moved only by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class World:
    gql: GraphQLClient
    clock: FakeClock
    runner: DeadlineRunner
    store: str

    async def define(self, **fields: Any) -> dict[str, Any]:
        payload: dict[str, Any] = (await self.gql.execute(DEFINE, {"input": fields}))[
            "defineDeadline"
        ]
        return payload

    async def rules(self, main: str | None = None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await self.gql.execute(RULES, {"main": main}))["deadlines"]
        return found

    async def create(self, **overrides: Any) -> dict[str, Any]:
        variables = {"input": order_input(self.store, **overrides)}
        payload = (await self.gql.execute(CREATE, variables))["createOrder"]
        assert payload["errors"] == [], payload
        return await self.order(payload["order"]["id"])

    async def move(self, order: dict[str, Any], to: str) -> dict[str, Any]:
        move = {"orderId": order["id"], "to": to, "expectedVersion": order["version"]}
        payload = (await self.gql.execute(TRANSITION, {"input": move}))["transitionOrder"]
        assert payload["errors"] == [], payload
        return await self.order(order["id"])

    async def order(self, order_id: str) -> dict[str, Any]:
        found: dict[str, Any] = (await self.gql.execute(ORDER, {"id": order_id}))["order"]
        return found

    async def events(self) -> list[dict[str, Any]]:
        edges = (await self.gql.execute(EVENTS, {"store": self.store}))["orderEvents"]["edges"]
        return [edge["node"] for edge in edges]

    async def deadline_events(self) -> list[dict[str, Any]]:
        return [event for event in await self.events() if event["actor"] == "system:deadline"]


@pytest.fixture
async def world(deadline_database: str, store_id: str) -> AsyncIterator[World]:
    clock = FakeClock()
    settings = Settings(database_url=deadline_database, auth="off", db_pool_size=5)
    app = create_app(settings, clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://order-graph") as http:
        gql = GraphQLClient(http, "store-ops")
        yield World(gql, clock, app.state.deadlines, store_id)
        for rule in (await gql.execute(RULES))["deadlines"]:  # no rule outlives its test
            await gql.execute(REMOVE, {"code": rule["code"]})
    await app.state.db.dispose()


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)
