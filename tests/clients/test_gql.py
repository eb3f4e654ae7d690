"""gql, the Python client of BFF and sync-program teams, against a real server with
authentication and websocket compression on: HTTP, and websockets on both subprotocols."""

from __future__ import annotations

from typing import Any

import pytest
from gql.client import AsyncClientSession
from gql.transport.exceptions import (
    TransportConnectionFailed,
    TransportQueryError,
    TransportServerError,
)

from tests.api.conftest import CREATE, TRANSITION, order_input
from tests.clients.conftest import Deployment
from tests.support.clients import (
    LEGACY_WS,
    PROTOCOLS,
    TRANSPORT_WS,
    execute,
    http_session,
    subscription,
    ws_session,
)
from tests.support.documents import FAT, SKINNY, TIERS


async def create(session: AsyncClientSession, store: str) -> dict[str, Any]:
    created = await execute(session, CREATE, input=order_input(store))
    assert created["createOrder"]["errors"] == []
    order: dict[str, Any] = created["createOrder"]["order"]
    return order


async def move(session: AsyncClientSession, order_id: str, to: str, version: int) -> Any:
    moved = await execute(
        session, TRANSITION, input={"orderId": order_id, "to": to, "expectedVersion": version}
    )
    return moved["transitionOrder"]


async def test_gql_over_http_creates_moves_and_reads_an_order_in_each_tier(
    deployment: Deployment, store: str
) -> None:
    async with http_session(deployment.server.http_url, deployment.key) as session:
        order = await create(session, store)
        paid = await move(session, order["id"], "PAID", 1)
        stale = await move(session, order["id"], "ACCEPTED", 1)
        tiers = await execute(session, TIERS, id=order["id"])

    assert (order["version"], paid["errors"], paid["order"]["version"]) == (1, [], 2)
    assert [error["code"] for error in stale["errors"]] == ["VERSION_CONFLICT"]
    summary, standard, full = tiers["summary"], tiers["standard"], tiers["full"]
    assert set(summary) < set(standard) < set(full)
    assert full["mainStatus"] == "PAID"
    assert [h["toMainStatus"] for h in full["statusHistory"]] == ["CREATED", "PAID"]


async def test_gql_over_http_without_a_key_is_told_to_send_one(deployment: Deployment) -> None:
    async with http_session(deployment.server.http_url) as session:
        with pytest.raises(TransportQueryError) as refused:
            await execute(session, "{ __typename }")
    assert refused.value.errors is not None
    assert refused.value.errors[0]["extensions"] == {"code": "UNAUTHENTICATED"}
    assert "Authorization: Bearer" in refused.value.errors[0]["message"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_gql_websocket_follows_a_store_with_skinny_events(
    deployment: Deployment, store: str, protocol: str
) -> None:
    server = deployment.server
    async with (
        http_session(server.http_url, deployment.key) as http,
        ws_session(server.ws_url, deployment.key, protocol) as ws,
    ):
        order = await create(http, store)
        variables = {"filter": {"storeIds": [store]}, "fromStart": True}
        async with subscription(ws, SKINNY, **variables) as events:
            created = await events.next()  # replayed: the subscription is live
            await move(http, order["id"], "PAID", 1)
            paid = await events.next()

    assert (created["type"], created["orderId"], created["version"]) == ("CREATED", order["id"], 1)
    assert (paid["type"], paid["mainStatus"], paid["previousMainStatus"]) == (
        "STATUS_CHANGED",
        "PAID",
        "CREATED",
    )


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_gql_websocket_fat_events_carry_the_order_in_the_full_tier(
    deployment: Deployment, store: str, protocol: str
) -> None:
    server = deployment.server
    async with http_session(server.http_url, deployment.key) as http:
        order = await create(http, store)
        await move(http, order["id"], "PAID", 1)
    async with ws_session(server.ws_url, deployment.key, protocol) as ws:
        variables = {"filter": {"storeIds": [store]}, "fromStart": True}
        async with subscription(ws, FAT, **variables) as events:
            received = await events.take(2)

    assert [event["version"] for event in received] == [1, 2]
    for event in received:  # the order as it is when delivered
        assert event["order"]["version"] == 2
        assert [item["skuId"] for item in event["order"]["items"]] == ["latte", "bagel"]
        assert len(event["order"]["statusHistory"]) == 2


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_gql_websocket_resumes_after_the_last_cursor_with_exactly_what_was_missed(
    deployment: Deployment, store: str, protocol: str
) -> None:
    server = deployment.server
    variables: dict[str, Any] = {"filter": {"storeIds": [store]}, "fromStart": True}
    async with http_session(server.http_url, deployment.key) as http:
        order = await create(http, store)
        async with (
            ws_session(server.ws_url, deployment.key, protocol) as ws,
            subscription(ws, SKINNY, **variables) as events,
        ):
            (first,) = await events.take(1)
        await move(http, order["id"], "PAID", 1)  # while nobody listens
        await move(http, order["id"], "ACCEPTED", 2)
    resume = {"filter": {"storeIds": [store]}, "after": first["cursor"]}
    async with (
        ws_session(server.ws_url, deployment.key, protocol) as ws,
        subscription(ws, SKINNY, **resume) as events,
    ):
        missed = await events.take(2)

    assert [(e["version"], e["mainStatus"]) for e in missed] == [(2, "PAID"), (3, "ACCEPTED")]


async def test_gql_websocket_runs_queries_and_mutations_too(
    deployment: Deployment, store: str
) -> None:
    async with ws_session(deployment.server.ws_url, deployment.key, TRANSPORT_WS) as ws:
        order = await create(ws, store)
        tiers = await execute(ws, TIERS, id=order["id"])
    assert tiers["full"]["id"] == order["id"]


async def test_the_legacy_protocol_carries_subscriptions_only(
    deployment: Deployment, store: str
) -> None:
    async with ws_session(deployment.server.ws_url, deployment.key, LEGACY_WS) as ws:
        with pytest.raises(TransportQueryError, match="queries are not allowed"):
            await execute(ws, TIERS, id="T3JkZXI6MQ")
        with pytest.raises(TransportQueryError, match="mutations are not allowed"):
            await create(ws, store)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_gql_websocket_without_a_valid_key_is_refused_at_connection_init(
    deployment: Deployment, protocol: str
) -> None:
    for init in ({}, {"authorization": "Bearer og_not-a-key"}):
        with pytest.raises((TransportServerError, TransportConnectionFailed)):
            async with ws_session(deployment.server.ws_url, protocol=protocol, init_payload=init):
                pass


async def test_gql_negotiates_compression_and_still_gets_text_frames(
    deployment: Deployment,
) -> None:
    async with ws_session(deployment.server.ws_url, deployment.key, TRANSPORT_WS) as ws:
        headers = {k.lower(): v for k, v in ws.transport.response_headers.items()}
        assert "permessage-deflate" in headers["sec-websocket-extensions"]
        assert (await execute(ws, "{ __typename }")) == {"__typename": "Query"}
