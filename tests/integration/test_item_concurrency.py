"""Races of cancelItems on PostgreSQL, against a real server with authentication on."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.api.conftest import CREATE, GET_ORDER, order_input
from tests.api.items_support import CANCEL_ITEMS, check_identities
from tests.integration.test_security import new_client
from tests.support.servers import Server, running_server

SCOPES = "orders:read,orders:create,orders:update"


@pytest.fixture(scope="module")
def server(postgres_url: str) -> Iterator[Server]:
    # A small pool, as in production: the racing requests queue for connections too.
    with running_server(
        postgres_url, ORDER_GRAPH_AUTH="required", ORDER_GRAPH_DB_POOL_SIZE="10"
    ) as server:
        yield server


@pytest.fixture(scope="module")
def key(postgres_url: str) -> str:
    return new_client(postgres_url, SCOPES)


@pytest.fixture
async def http(server: Server, key: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(headers=headers, timeout=60) as client:
        yield client


async def call(http: httpx.AsyncClient, server: Server, query: str, variables: Any) -> Any:
    response = await http.post(server.http_url, json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def paid_order(http: httpx.AsyncClient, server: Server, store: str, **extra: Any) -> Any:
    input = order_input(store, initialStatus="PAID", **extra)
    created = (await call(http, server, CREATE, {"input": input}))["createOrder"]
    assert created["errors"] == []
    return created["order"]


async def test_two_cancellations_at_one_version_give_exactly_one_winner(
    http: httpx.AsyncClient, server: Server, store_id: str
) -> None:
    order = await paid_order(http, server, store_id)
    latte, bagel = (item["id"] for item in order["items"])
    for version, item in ((1, latte), (2, bagel)):

        async def cancel(item: str = item, version: int = version) -> Any:
            input = {
                "orderId": order["id"],
                "expectedVersion": version,
                "lines": [{"itemId": item, "quantity": 1}],
                "reason": "Out of stock",
                "refundAmount": "1.00",
            }
            return (await call(http, server, CANCEL_ITEMS, {"input": input}))["cancelItems"]

        payloads = await asyncio.gather(cancel(), cancel())

        winners = [p for p in payloads if p["errors"] == []]
        losers = [p for p in payloads if p["errors"]]
        assert len(winners) == 1, payloads
        conflict, *also = losers[0]["errors"]
        assert (conflict["code"], conflict["currentVersion"]) == ("VERSION_CONFLICT", version + 1)
        assert losers[0]["order"]["version"] == version + 1
        # The last bagel went to the winner: the loser also learns that none is left.
        assert [e["field"] for e in also] == (
            [["input", "lines", "0", "quantity"]] * (item == bagel)
        )

    after = (await call(http, server, GET_ORDER, {"id": order["id"]}))["order"]
    assert [i["cancelledQuantity"] for i in after["items"]] == [1, 1]
    assert [c["version"] for c in after["changes"]] == [2, 3]
    assert after["refundedTotal"]["amount"] == "2.00"


async def test_fifty_racing_cancellations_never_cancel_more_than_was_ordered(
    http: httpx.AsyncClient, server: Server, store_id: str
) -> None:
    items = [
        {"skuId": "latte", "name": "Latte", "quantity": 30, "unitPrice": "28.00"},
        {"skuId": "bagel", "name": "Bagel", "quantity": 1, "unitPrice": "18.50"},
    ]
    order = await paid_order(http, server, store_id, items=items)
    latte = order["items"][0]["id"]
    wanted = [random.randint(1, 3) for _ in range(50)]

    async def cancel(quantity: int) -> Any:
        input = {
            "orderId": order["id"],
            "lines": [{"itemId": latte, "quantity": quantity}],
            "reason": "Out of stock",
            "refundAmount": "1.00",
        }
        return (await call(http, server, CANCEL_ITEMS, {"input": input}))["cancelItems"]

    payloads = await asyncio.gather(*(cancel(quantity) for quantity in wanted))

    won = [q for q, p in zip(wanted, payloads, strict=True) if p["errors"] == []]
    lost = [q for q, p in zip(wanted, payloads, strict=True) if p["errors"]]
    refused = [p["errors"] for p in payloads if p["errors"]]
    assert all(
        [(e["code"], e["field"]) for e in errors]
        == [("VALIDATION", ["input", "lines", "0", "quantity"])]
        for errors in refused
    ), refused
    after = (await call(http, server, GET_ORDER, {"id": order["id"]}))["order"]
    check_identities(after)
    line = after["items"][0]
    assert line["cancelledQuantity"] == sum(won) <= 30
    # Each refusal asked for more than was left then, so more than is left now.
    assert all(quantity > 30 - sum(won) for quantity in lost)
    assert after["mainStatus"] == "PAID"  # the bagel is still to be made
    assert after["version"] == 1 + len(won)
    assert sorted(c["version"] for c in after["changes"]) == list(range(2, 2 + len(won)))
    assert sorted(ln["cancelledQuantity"] for c in after["changes"] for ln in c["lines"]) == sorted(
        won
    )
    assert Decimal(after["refundedTotal"]["amount"]) == len(won)
