"""Issue 2, "Application and CLI": bad HTTP requests get a GraphQL-style 4xx, never a traceback;
the published documents and the health endpoints answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest


@pytest.fixture
async def http(app_and_db: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client that sees what a real caller sees: a crash is a 500, not a raise."""
    transport = httpx.ASGITransport(app=app_and_db, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://order-graph") as client:
        yield client


FRAGMENTS_FILE = Path(__file__).parents[2] / "fragments.graphql"


def assert_graphql_style_client_error(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert "Traceback" not in response.text
    assert 'File "' not in response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body.get("errors"), list), body
    assert body["errors"], body
    assert all(isinstance(e.get("message"), str) and e["message"] for e in body["errors"]), body


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"query": ', b"", b"\xff\xfe\x00garbage", b"[1, 2"],
    ids=["broken_object", "truncated", "empty", "binary", "broken_array"],
)
async def test_malformed_json_body_gets_a_graphql_style_4xx(
    http: httpx.AsyncClient, content: bytes
) -> None:
    response = await http.post(
        "/graphql", content=content, headers={"Content-Type": "application/json"}
    )
    assert_graphql_style_client_error(response)


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/xml", "image/png", "application/octet-stream"]
)
async def test_wrong_content_type_gets_a_graphql_style_4xx(
    http: httpx.AsyncClient, content_type: str
) -> None:
    response = await http.post(
        "/graphql",
        content=b'{"query": "{ mainStatusTransitions { from } }"}',
        headers={"Content-Type": content_type},
    )
    assert_graphql_style_client_error(response)


async def test_json_body_without_a_query_gets_a_graphql_style_4xx(http: httpx.AsyncClient) -> None:
    response = await http.post("/graphql", json={"variables": {}})
    assert_graphql_style_client_error(response)


@pytest.mark.parametrize(
    "content",
    [b"null", b"42", b'"{ mainStatusTransitions { from } }"', b"true", b'["q"]'],
    ids=["null", "number", "string", "boolean", "list_of_strings"],
)
async def test_json_body_that_is_not_an_object_gets_a_graphql_style_4xx(
    http: httpx.AsyncClient, content: bytes
) -> None:
    response = await http.post(
        "/graphql", content=content, headers={"Content-Type": "application/json"}
    )
    assert_graphql_style_client_error(response)


async def test_syntax_error_in_the_query_is_reported_without_a_traceback(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post("/graphql", json={"query": "{ orders(first: ) }"})
    assert "Traceback" not in response.text
    body = response.json()
    assert body["errors"], body


async def test_wrong_variable_type_is_reported_without_a_traceback(http: httpx.AsyncClient) -> None:
    query = "query F($first: Int) { orders(first: $first) { edges { cursor } } }"
    response = await http.post("/graphql", json={"query": query, "variables": {"first": "x"}})
    assert "Traceback" not in response.text
    assert response.json()["errors"]


async def test_healthz_answers_ok(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert response.status_code == 200


async def test_readyz_answers_ok_on_a_migrated_database(http: httpx.AsyncClient) -> None:
    response = await http.get("/readyz")
    assert response.status_code == 200, response.text


async def test_fragments_are_served_as_published(http: httpx.AsyncClient) -> None:
    response = await http.get("/fragments.graphql")
    assert response.status_code == 200
    assert response.text == FRAGMENTS_FILE.read_text()


async def test_schema_is_served(http: httpx.AsyncClient) -> None:
    response = await http.get("/schema.graphql")
    assert response.status_code == 200
    assert "type Order implements Node" in response.text
    assert "mainStatusTransitions" in response.text
