"""What operators see: Prometheus metrics and one structured log line per request."""

from __future__ import annotations

import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from order_graph.ops.logs import JsonFormatter, ReadableFormatter
from tests.api.conftest import CreateOrder, Transition
from tests.conftest import GraphQLClient


async def sample(gql: GraphQLClient, name: str, **labels: str) -> float:
    text = (await gql.http.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    return 0.0


async def test_operations_transitions_and_errors_are_counted(
    gql: GraphQLClient, create_order: CreateOrder, transition: Transition
) -> None:
    requests = {"operation": "Create", "type": "mutation", "outcome": "ok"}
    moves = {"from_status": "CREATED", "to_status": "PAID"}
    before = (
        await sample(gql, "order_graph_graphql_requests_total", **requests),
        await sample(gql, "order_graph_status_transitions_total", **moves),
        await sample(gql, "order_graph_errors_total", code="INVALID_TRANSITION"),
    )
    order = (await create_order())["order"]
    await transition(order["id"], "PAID")
    await transition(order["id"], "COMPLETED")
    after = (
        await sample(gql, "order_graph_graphql_requests_total", **requests),
        await sample(gql, "order_graph_status_transitions_total", **moves),
        await sample(gql, "order_graph_errors_total", code="INVALID_TRANSITION"),
    )
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 1]
    assert await sample(gql, "order_graph_graphql_request_seconds_count", operation="Move") >= 2
    metrics = (await gql.http.get("/metrics")).text
    for gauge in (
        "order_graph_websocket_connections",
        "order_graph_subscriptions",
        "order_graph_event_lag",
        "order_graph_db_pool_in_use",
    ):
        assert gauge in metrics


async def test_each_request_is_logged_once_with_its_id_client_and_operation(
    gql: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="order_graph.access"):
        response = await gql.http.post(
            "/graphql",
            json={"query": "query Ping { __typename }"},
            headers={"x-request-id": "abc-1", "x-client-id": "pos-7"},
        )
    assert response.headers["x-request-id"] == "abc-1"
    (record,) = [r for r in caplog.records if r.name == "order_graph.access"]
    fields = record.fields  # type: ignore[attr-defined]
    assert {k: fields[k] for k in ("request_id", "client", "operation", "outcome", "status")} == {
        "request_id": "abc-1",
        "client": "pos-7",
        "operation": "Ping",
        "outcome": "ok",
        "status": 200,
    }
    assert fields["duration_ms"] >= 0

    line = json.loads(JsonFormatter().format(record))
    assert (line["request_id"], line["operation"], line["level"]) == ("abc-1", "Ping", "INFO")
    assert "request_id=abc-1" in ReadableFormatter().format(record)


async def test_a_request_without_an_id_gets_one(gql: GraphQLClient) -> None:
    response = await gql.http.post("/graphql", json={"query": "{ __typename }"})
    assert len(response.headers["x-request-id"]) == 32
