"""Production hygiene: no schema hints in errors on any transport, safe log lines, protected
metrics and schema, and the headers browsers need."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from order_graph.app import create_app
from order_graph.config import Settings
from order_graph.ops.logs import JsonFormatter, ReadableFormatter
from tests.api.test_error_policy import run_on_socket

TYPOS = [
    '{ orders(filter: {storeIdz: ["a"]}) { edges { cursor } } }',  # an input field
    "{ orders(filter: {mainStatuses: [PAIDD]}) { edges { cursor } } }",  # an enum value
    "{ ordrs { edges { cursor } } }",  # a field
    "{ orders(frist: 1) { edges { cursor } } }",  # an argument
]


@pytest.fixture
def production(sqlite_url: str) -> Iterator[TestClient]:
    settings = Settings(
        database_url=sqlite_url,
        auth="off",
        env="production",
        introspection=False,
        metrics_token="scrape-me",
    )
    with TestClient(create_app(settings)) as client:
        yield client


def test_production_errors_carry_no_suggestions_over_http(production: TestClient) -> None:
    by_variable = {
        "query": "query($f: OrderFilter) { orders(filter: $f) { edges { cursor } } }",
        "variables": {"f": {"storeIdz": ["a"]}},
    }
    for body in [*({"query": typo} for typo in TYPOS), by_variable]:
        text = production.post("/graphql", json=body).text
        assert "errors" in text
        assert "Did you mean" not in text, text


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
def test_production_errors_carry_no_suggestions_over_websockets(
    production: TestClient, protocol: str
) -> None:
    for typo in (*TYPOS, "subscription { orderEvents(filter: {typez: [CREATED]}) { cursor } }"):
        answer = run_on_socket(production, protocol, {}, typo)
        assert answer["type"] in ("error", "data", "next"), answer
        assert "Did you mean" not in json.dumps(answer), answer


def test_metrics_want_their_token_and_the_schema_follows_introspection(
    production: TestClient,
) -> None:
    assert production.get("/metrics").status_code == 401
    assert production.get("/metrics", headers={"authorization": "Bearer nope"}).status_code == 401
    scraped = production.get("/metrics", headers={"authorization": "Bearer scrape-me"})
    assert scraped.status_code == 200
    assert "order_graph_graphql_requests_total" in scraped.text
    assert production.get("/schema.graphql").status_code == 404
    assert production.get("/fragments.graphql").status_code == 200


def test_api_answers_are_not_sniffed_or_stored_and_graphiql_is_not_framed(
    production: TestClient,
) -> None:
    answer = production.post("/graphql", json={"query": "{ __typename }"})
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"
    page = production.get("/graphql", headers={"accept": "text/html"})
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_a_request_id_with_control_characters_is_replaced(production: TestClient) -> None:
    kept = production.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"x-request-id": "req-7.a:b"}
    )
    assert kept.headers["x-request-id"] == "req-7.a:b"
    for hostile in ("evil\x1b[31m", "a b", "x" * 129):
        answer = production.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"x-request-id": hostile}
        )
        assert answer.headers["x-request-id"] != hostile
        assert answer.headers["x-request-id"].isalnum()


def record(message: str, **fields: object) -> logging.LogRecord:
    made = logging.LogRecord("order_graph.access", logging.INFO, "x.py", 1, message, (), None)
    made.fields = fields
    return made


def test_log_lines_are_capped_and_carry_no_control_characters() -> None:
    long = record("m" * 100_000, path="/graphql\n2026-01-01 INFO forged line", client="c" * 5_000)
    readable = ReadableFormatter().format(long)
    assert "\n" not in readable
    assert "forged line" in readable  # shown, escaped, on the same line
    assert len(readable) < 16_384
    line = json.loads(JsonFormatter().format(long))
    assert len(line["message"]) < 4_200
    assert len(line["client"]) < 400
    try:
        raise RuntimeError("x" * 100_000)
    except RuntimeError:
        failed = logging.LogRecord(
            "order_graph.errors", logging.ERROR, "x.py", 1, "boom", (), sys.exc_info()
        )
    assert len(json.loads(JsonFormatter().format(failed))["exception"]) < 8_300
