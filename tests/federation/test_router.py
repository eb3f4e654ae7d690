"""order-graph behind a real Apollo gateway: its live subgraph SDL composes with a fixture
`stores` subgraph, the official tiers come back through the router exactly as order-graph
answers them directly, and a store-bound key sees only its store through the router.

The Node side (`router.mjs`, `stores.mjs`) is installed by `make test` (`npm ci` here).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from order_graph.domain.access import Principal, Scope
from order_graph.service import utc_now
from order_graph.storage import clients
from order_graph.storage.database import Database
from tests.api.conftest import CREATE, order_input
from tests.conftest import fresh_database
from tests.support.servers import Server, server_in_background
from tests.support.subgraph import tier

HERE = Path(__file__).parent
STARTUP_SECONDS = 60
STORES = [
    {"id": "sh-jingan-001", "name": "Jing'an Temple", "city": "Shanghai"},
    {"id": "bj-chaoyang-003", "name": "Sanlitun", "city": "Beijing"},
    {"id": "gz-tianhe-004", "name": "Zhujiang New Town", "city": "Guangzhou"},
]
ORDERS_PER_STORE = {"sh-jingan-001": 7, "bj-chaoyang-003": 3, "gz-tianhe-004": 0}
BY_ID = {store["id"]: store for store in STORES}


@dataclass
class Router:
    url: str
    composition: dict[str, list[str]]


@dataclass
class Federation:
    order_graph: Server
    router: Router
    admin_key: str
    bound_key: str  # orders:read, bound to bj-chaoyang-003

    async def ask(self, url: str, query: str, key: str, **variables: Any) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.post(
                url,
                json={"query": query, "variables": variables},
                headers={"authorization": f"Bearer {key}"},
            )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        return body

    async def direct(self, query: str, key: str | None = None, **variables: Any) -> Any:
        url = self.order_graph.http_url
        return (await self.ask(url, query, key or self.admin_key, **variables))["data"]

    async def routed(self, query: str, key: str | None = None, **variables: Any) -> Any:
        return (await self.ask(self.router.url, query, key or self.admin_key, **variables))["data"]


def _node_project() -> Path:
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is required for the federation tests")
    if not (HERE / "node_modules" / "@apollo" / "gateway").is_dir():
        pytest.fail("tests/federation is not installed: run `make test` (it runs `npm ci` there)")
    return Path(node)


@contextmanager
def running_router(subgraph_url: str, key: str) -> Iterator[Router]:
    """`router.mjs`: composition, then the gateway; returns once it serves, or fails."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("APOLLO_")}
    environment.update(
        ORDER_GRAPH_SUBGRAPH_URL=subgraph_url,
        ORDER_GRAPH_API_KEY=key,
        FIXTURE_STORES=json.dumps(STORES),
        APOLLO_TELEMETRY_DISABLED="true",
    )
    process = subprocess.Popen(
        [str(_node_project()), "router.mjs"],
        cwd=HERE,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
    errors: list[str] = []

    def read_stdout() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("{"):
                messages.put(json.loads(line))
        messages.put(None)

    threading.Thread(target=read_stdout, daemon=True).start()
    threading.Thread(target=lambda: errors.extend(process.stderr or ()), daemon=True).start()
    deadline = time.monotonic() + STARTUP_SECONDS

    def next_message() -> dict[str, Any]:
        try:
            message = messages.get(timeout=max(deadline - time.monotonic(), 0))
        except queue.Empty:
            message = None
        if message is None:
            pytest.fail("router.mjs did not start:\n" + "".join(errors))
        return message

    try:
        composition = next_message()["composition"]
        if composition["errors"]:
            pytest.fail("composition failed:\n" + "\n".join(composition["errors"]))
        yield Router(next_message()["router"], composition)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _key(db: Database, scopes: frozenset[Scope], stores: frozenset[str] | None) -> str:
    key = clients.new_key()
    async with db.write() as conn:
        await clients.create(
            conn, Principal(f"app-{uuid.uuid4().hex[:8]}", scopes, stores), key, utc_now()
        )
    return key


@pytest.fixture(scope="module")
async def federation() -> AsyncIterator[Federation]:
    # A database of its own: `orders(first: 5)` must see only orders of the fixture's stores.
    async with fresh_database() as url:
        db = Database(url)
        try:
            admin = await _key(db, frozenset({Scope.ADMIN}), None)
            bound = await _key(db, frozenset({Scope.ORDERS_READ}), frozenset({"bj-chaoyang-003"}))
        finally:
            await db.dispose()
        async with server_in_background(
            url, ORDER_GRAPH_AUTH="required", ORDER_GRAPH_DB_POOL_SIZE="4"
        ) as server:
            async with httpx.AsyncClient(timeout=30) as http:
                for store, count in ORDERS_PER_STORE.items():
                    for index in range(count):
                        variables = {"input": order_input(store, customerId=f"cust-{index % 2}")}
                        response = await http.post(
                            server.http_url,
                            json={"query": CREATE, "variables": variables},
                            headers={"authorization": f"Bearer {admin}"},
                        )
                        assert response.json()["data"]["createOrder"]["errors"] == []
            subgraph_url = server.http_url.removesuffix("/graphql") + "/subgraph"
            # Blocking is fine here: order-graph runs in a process of its own.
            with running_router(subgraph_url, admin) as router:
                yield Federation(server, router, admin, bound)


def test_the_live_subgraph_composes_with_a_stores_subgraph_without_errors(
    federation: Federation,
) -> None:
    composition = federation.router.composition
    print("composition hints:", *composition["hints"] or ["none"], sep="\n  ")
    assert composition["errors"] == []


STORES_WITH_ORDERS = (
    tier("OrderSummary")
    + "{ stores { id name orders(first: 5) { edges { node { ...OrderSummary } } } } }"
)
STORE_ORDERS = (
    tier("OrderSummary")
    + """query($store: ID!) {
  orders(filter: {storeIds: [$store]}, first: 5) { edges { node { ...OrderSummary } } }
}"""
)


async def test_stores_with_their_orders_come_back_as_order_graph_lists_them(
    federation: Federation,
) -> None:
    routed = (await federation.routed(STORES_WITH_ORDERS))["stores"]

    assert [(s["id"], s["name"]) for s in routed] == [(s["id"], s["name"]) for s in STORES]
    for store in routed:
        direct = await federation.direct(STORE_ORDERS, store=store["id"])
        assert store["orders"] == direct["orders"]
        assert len(store["orders"]["edges"]) == min(ORDERS_PER_STORE[store["id"]], 5)


async def test_orders_with_their_stores_come_back_as_order_graph_answers_them(
    federation: Federation,
) -> None:
    query = "{ orders(first: 5) { edges { node { ...OrderStandard %s } } } }"
    routed = await federation.routed(tier("OrderStandard") + query % "store { name city }")
    direct = await federation.direct(tier("OrderStandard") + query % "")

    nodes = [edge["node"] for edge in routed["orders"]["edges"]]
    stores = [node.pop("store") for node in nodes]
    assert nodes == [edge["node"] for edge in direct["orders"]["edges"]]
    assert len(nodes) == 5
    assert stores == [
        {"name": BY_ID[n["storeId"]]["name"], "city": BY_ID[n["storeId"]]["city"]} for n in nodes
    ]


async def test_an_order_in_the_full_tier_comes_back_as_order_graph_answers_it(
    federation: Federation,
) -> None:
    newest = await federation.direct("{ orders(first: 1) { edges { node { id } } } }")
    order_id = newest["orders"]["edges"][0]["node"]["id"]
    query = tier("OrderFull") + "query($id: ID!) { order(id: $id) { ...OrderFull } }"

    routed = await federation.routed(query, id=order_id)

    assert routed == await federation.direct(query, id=order_id)


async def test_a_store_bound_key_sees_only_its_store_through_the_router(
    federation: Federation,
) -> None:
    key = federation.bound_key
    everything = await federation.direct("{ orders(first: 100) { edges { node { id storeId } } } }")
    elsewhere = next(
        e["node"]["id"]
        for e in everything["orders"]["edges"]
        if e["node"]["storeId"] != "bj-chaoyang-003"
    )

    listed = await federation.routed(
        "{ orders(first: 100) { edges { node { storeId store { city } } } } }", key
    )
    stores = await federation.routed(
        "{ stores { id orders(first: 100) { edges { node { storeId } } } } }", key
    )
    hidden = await federation.routed("query($id: ID!) { order(id: $id) { id } }", key, id=elsewhere)

    assert [e["node"] for e in listed["orders"]["edges"]] == [
        {"storeId": "bj-chaoyang-003", "store": {"city": "Beijing"}}
    ] * ORDERS_PER_STORE["bj-chaoyang-003"]
    assert {s["id"]: len(s["orders"]["edges"]) for s in stores["stores"]} == {
        "sh-jingan-001": 0,
        "bj-chaoyang-003": ORDERS_PER_STORE["bj-chaoyang-003"],
        "gz-tianhe-004": 0,
    }
    assert hidden == {"order": None}
