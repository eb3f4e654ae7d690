"""Item changes as subscribers see them: one ITEMS_CHANGED event per change, the fat order with
its changes, over a real websocket to a real server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import CREATE, TRANSITION, order_input
from tests.api.items_support import CANCEL_ITEMS
from tests.conftest import FRAGMENTS
from tests.support.clients import subscribe
from tests.support.servers import Server, running_server

FAT = (
    FRAGMENTS
    + """
subscription Follow($filter: OrderEventFilter, $after: String) {
  orderEvents(filter: $filter, after: $after) {
    type version mainStatus previousMainStatus order { ...OrderFull }
  }
}"""
)
LAST = """query($id: ID!) {
  orderEvents(filter: {orderIds: [$id]}) { pageInfo { endCursor } }
}"""


@pytest.fixture(scope="module")
def server(postgres_url: str) -> Iterator[Server]:
    with running_server(postgres_url) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30, headers={"X-Client-Id": "kitchen"}) as client:
        yield client


async def call(http: httpx.AsyncClient, server: Server, query: str, **variables: Any) -> Any:
    body = (await http.post(server.http_url, json={"query": query, "variables": variables})).json()
    assert "errors" not in body, body
    return body["data"]


async def test_a_subscriber_gets_each_cancellation_with_the_order_as_it_now_is(
    http: httpx.AsyncClient, server: Server, store_id: str
) -> None:
    order = (await call(http, server, CREATE, input=order_input(store_id)))["createOrder"]["order"]
    await call(http, server, TRANSITION, input={"orderId": order["id"], "to": "PAID"})
    latte, bagel = (item["id"] for item in order["items"])
    only_items = {"storeIds": [store_id], "types": ["ITEMS_CHANGED"]}
    # From the payment on, whenever the subscription starts: nothing after it can be missed.
    paid = (await call(http, server, LAST, id=order["id"]))["orderEvents"]["pageInfo"]["endCursor"]

    async with subscribe(server.ws_url, FAT, {"filter": only_items, "after": paid}) as events:
        for lines, refund in (([(bagel, 1)], "18.50"), ([(latte, 2)], "56.00")):
            cancel = {
                "orderId": order["id"],
                "lines": [{"itemId": item, "quantity": quantity} for item, quantity in lines],
                "reason": "Out of stock",
                "refundAmount": refund,
            }
            payload = (await call(http, server, CANCEL_ITEMS, input=cancel))["cancelItems"]
            assert payload["errors"] == []
        partial, last = await events.take(2)

    assert (partial["type"], partial["version"], partial["mainStatus"]) == (
        "ITEMS_CHANGED",
        3,
        "PAID",
    )
    # A fat event shows the order as it is when delivered: both cancellations may be in it.
    assert partial["order"]["changes"][0]["version"] == 3
    assert (last["version"], last["mainStatus"], last["previousMainStatus"]) == (
        4,
        "CANCELLED",
        "PAID",
    )
    final = last["order"]
    assert [c["refundAmount"]["amount"] for c in final["changes"]] == ["18.50", "56.00"]
    assert [i["activeQuantity"] for i in final["items"]] == [0, 0]
    assert final["payableTotal"]["amount"] == "0.00"
