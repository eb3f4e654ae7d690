"""A read sees one snapshot of an order: its totals and its lists never come from different
moments, however often a writer changes them meanwhile (PostgreSQL, where reads and writes run
concurrently)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from order_graph.app import create_app
from order_graph.config import Settings
from tests.api.conftest import CREATE, order_input
from tests.conftest import FRAGMENTS, GraphQLClient

FULL = FRAGMENTS + "\nquery Full($id: ID!) { order(id: $id) { ...OrderFull } }"
BOTH = (
    FRAGMENTS
    + "\nquery Both($id: ID!) { a: order(id: $id) { ...OrderFull } b: order(id: $id) { version } }"
)
REPLACE = """mutation($input: ReplaceDiscountsInput!) { replaceDiscounts(input: $input) {
  order { version } errors { code } } }"""
# Two discount results whose totals differ: a torn read shows one's total with the other's list.
RESULTS = [
    [{"kind": "COUPON", "amount": "1.00"}],
    [{"kind": "COUPON", "amount": "2.00"}, {"kind": "PROMOTION", "amount": "0.50"}],
]
READERS = 4
READS = 60


@pytest.fixture
async def pg(postgres_url: str) -> AsyncIterator[GraphQLClient]:
    app = create_app(Settings(database_url=postgres_url, auth="off", db_pool_size=6))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://order-graph") as http:
        yield GraphQLClient(http)
    await app.state.db.dispose()


def torn(order: dict[str, Any]) -> bool:
    listed = sum(Decimal(d["amount"]["amount"]) for d in order["discounts"])
    return listed != Decimal(order["discountTotal"]["amount"])


async def test_discounts_always_add_up_to_the_discount_total_while_they_are_replaced(
    pg: GraphQLClient, store_id: str
) -> None:
    created = await pg.execute(CREATE, {"input": order_input(store_id, discounts=RESULTS[0])})
    order_id = created["createOrder"]["order"]["id"]
    done = asyncio.Event()

    async def replace() -> int:
        n = 0
        while not done.is_set():
            move = {"orderId": order_id, "discounts": RESULTS[n % 2]}
            assert (await pg.execute(REPLACE, {"input": move}))["replaceDiscounts"]["errors"] == []
            n += 1
        return n

    async def read(query: str) -> list[int]:
        seen = []
        for _ in range(READS):
            data = await pg.execute(query, {"id": order_id})
            order = data.get("order") or data["a"]
            # Two roots of one request see the same moment too.
            if torn(order) or data.get("b", order)["version"] != order["version"]:
                seen.append(order["version"])
        return seen

    def compiled() -> float:
        labels = {"outcome": "answered"}
        return REGISTRY.get_sample_value("order_graph_compiled_queries_total", labels) or 0.0

    before = compiled()
    writer = asyncio.create_task(replace())
    try:
        readers = [read(FULL if n % 2 else BOTH) for n in range(READERS)]
        torn_versions = [v for found in await asyncio.gather(*readers) for v in found]
    finally:
        done.set()
        replaced = await writer
    assert replaced > 10  # the reads did overlap with many replacements
    assert torn_versions == []
    # ... and they were the compiled one-statement reads (each document's first run excepted).
    assert compiled() - before >= READERS * READS - 2
