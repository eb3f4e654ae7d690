"""Every limit just under and just over its bound; each refusal is clear, typed and cheap."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from order_graph.api import ids
from order_graph.app import create_app
from order_graph.config import Settings
from tests.api.conftest import StatementCounter
from tests.conftest import FRAGMENTS, GraphQLClient

MISSING = f'"{ids.encode("Order", 10**12)}"'
FULL_PAGE = FRAGMENTS + "query { orders(first: 100) { edges { node { ...OrderFull } } } }"


def messages(body: dict[str, Any]) -> list[str]:
    return [str(error["message"]) for error in body.get("errors", [])]


def deep(levels: int) -> str:
    """A query `levels` fields deep (past `amount`, the extra levels are not in the schema)."""
    inner = "z"
    for n in range(levels - 6):
        inner = f"x{n} {{ {inner} }}"
    path = "orders(first: 1) { edges { node { items { unitPrice { amount"
    return "{ " + path + " { " + inner + " } } } } } } }"


async def test_depth_is_limited_to_twelve(gql: GraphQLClient) -> None:
    limit = "exceeds maximum operation depth of 12"
    assert not any(limit in m for m in messages(await gql.raw(deep(12))))
    assert any(limit in m for m in messages(await gql.raw(deep(13))))


def aliased(count: int, in_fragment: int = 0) -> str:
    fields = " ".join(f"a{n}: id" for n in range(count - in_fragment))
    spread = " ".join(f"f{n}: id" for n in range(in_fragment))
    operation = f"query {{ order(id: {MISSING}) {{ {fields} ...F }} }}"
    return f"fragment F on Order {{ {spread or 'id'} }} {operation}"


async def test_aliases_are_limited_to_thirty_counting_fragments(gql: GraphQLClient) -> None:
    assert messages(await gql.raw(aliased(30))) == []
    assert messages(await gql.raw(aliased(31))) == ["31 aliases found. Allowed: 30"]
    assert messages(await gql.raw(aliased(31, in_fragment=11))) == ["31 aliases found. Allowed: 30"]


async def test_tokens_are_limited_to_five_thousand(gql: GraphQLClient) -> None:
    def ids(count: int) -> str:  # 11 tokens around `count` ids
        return f"query {{ order(id: {MISSING}) {{ " + "id " * count + "} }"

    too_many = "Document contains more than 5000 tokens"
    assert not any(too_many in m for m in messages(await gql.raw(ids(4989))))
    assert any(too_many in m for m in messages(await gql.raw(ids(4990))))


async def test_bodies_are_limited_to_a_megabyte(gql: GraphQLClient) -> None:
    def padded(size: int) -> bytes:
        body = b'{"query": "{ __typename }", "variables": {}, "extensions": {"pad": ""}}'
        return body.replace(b'"pad": ""', b'"pad": "' + b"x" * (size - len(body)) + b'"')

    headers = {"content-type": "application/json"}
    small = await gql.http.post("/graphql", content=padded(1_000_000), headers=headers)
    assert small.status_code == 200
    large = await gql.http.post("/graphql", content=padded(1_000_001), headers=headers)
    assert large.status_code == 413
    assert large.json()["errors"][0]["extensions"] == {"code": "REQUEST_TOO_LARGE"}

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length to trust
        for _ in range(3):
            yield b" " * 500_000

    streamed = await gql.http.post("/graphql", content=chunks(), headers=headers)
    assert streamed.status_code == 413


async def test_a_full_page_of_the_full_tier_is_within_the_cost_budget(gql: GraphQLClient) -> None:
    body = await gql.raw(FULL_PAGE)
    assert "errors" not in body
    cost = body["extensions"]["cost"]
    assert cost["requested"] <= cost["limit"] == 50_000


async def test_ten_times_that_is_refused_before_touching_the_database(
    gql: GraphQLClient, statements: StatementCounter
) -> None:
    pages = " ".join(
        f"p{n}: orders(first: 100) {{ edges {{ node {{ ...OrderFull }} }} }}" for n in range(10)
    )
    body = await gql.raw(FRAGMENTS + f"query {{ {pages} }}")
    assert "data" not in body  # refused before execution: no data entry
    assert body["errors"][0]["extensions"] == {"code": "QUERY_TOO_COSTLY"}
    assert statements.count == 0


async def test_circular_fragments_are_refused(gql: GraphQLClient) -> None:
    document = f"""
    fragment A on Order {{ id ...B }}
    fragment B on Order {{ version ...A }}
    query {{ order(id: {MISSING}) {{ ...A }} }}"""
    assert messages(await gql.raw(document))[0].startswith("Cannot spread fragment")


def chain(length: int) -> str:
    fragments = "\n".join(f"fragment F{n} on Order {{ id ...F{n + 1} }}" for n in range(length))
    query = f"query {{ order(id: {MISSING}) {{ ...F0 }} }}"
    return f"{fragments}\nfragment F{length} on Order {{ id }}\n{query}"


async def test_nested_fragments_are_answered_up_to_a_sane_nesting(gql: GraphQLClient) -> None:
    assert messages(await gql.raw(chain(20))) == []
    # graphql-core stops validating a document that would cost too much to validate.
    assert messages(await gql.raw(chain(200))) == ["Validation aborted."]


async def test_batches_are_not_accepted(gql: GraphQLClient) -> None:
    query = {"query": "{ __typename }"}
    response = await gql.http.post("/graphql", json=[query, query])
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "Batching is not enabled"


@pytest.fixture
async def production(database_url: str) -> AsyncIterator[GraphQLClient]:
    settings = Settings(
        database_url=database_url, auth="off", env="production", introspection=False
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://order-graph") as http:
        yield GraphQLClient(http)
    await app.state.db.dispose()


async def test_production_gives_no_field_suggestions(
    gql: GraphQLClient, production: GraphQLClient
) -> None:
    assert "Did you mean" in messages(await gql.raw("{ ordrs { edges { cursor } } }"))[0]
    assert messages(await production.raw("{ ordrs { edges { cursor } } }")) == [
        "Cannot query field 'ordrs' on type 'Query'."
    ]


async def test_introspection_can_be_switched_off(
    gql: GraphQLClient, production: GraphQLClient
) -> None:
    assert "errors" not in await gql.raw("{ __schema { queryType { name } } }")
    body = await production.raw("{ __schema { queryType { name } } }")
    assert "data" not in body  # refused before execution: no data entry
    assert "introspection" in messages(body)[0].lower()


async def test_text_with_a_nul_character_is_refused(gql: GraphQLClient) -> None:
    by_variable = await gql.raw(
        "query($s: ID!) { orders(filter: {storeIds: [$s]}) { edges { cursor } } }", {"s": "a\x00b"}
    )
    by_literal = await gql.raw('{ orders(filter: {storeIds: ["a\\u0000b"]}) { edges { cursor } } }')
    for body in (by_variable, by_literal):
        assert body["errors"][0]["extensions"] == {"code": "VALIDATION"}
