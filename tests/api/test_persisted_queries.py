"""Apollo's automatic persisted queries: a hash stands for a query this server has been
sent once. (Apollo Client's own PersistedQueryLink runs against a real server in
tests/clients/apollo.test.mjs.)"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from order_graph.api.http_spec import Refused
from order_graph.api.persisted import PersistedQueries
from tests.support.apps import in_process


@pytest.fixture(scope="module")
async def http(sqlite_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process(sqlite_url, auth="off") as client:
        yield client


def a_query() -> str:
    return f"query Q{uuid.uuid4().hex} {{ mainStatusTransitions {{ from }} }}"


def persisted(digest: str, version: int = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": digest}}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def test_an_unknown_hash_asks_for_the_query_then_the_hash_alone_runs_it(
    http: httpx.AsyncClient,
) -> None:
    query = a_query()
    digest = sha256(query)
    unknown = await http.post("/graphql", json={"extensions": persisted(digest)})
    registered = await http.post("/graphql", json={"query": query, "extensions": persisted(digest)})
    by_hash = await http.post("/graphql", json={"extensions": persisted(digest)})

    assert unknown.status_code == 200
    assert unknown.json() == {
        "errors": [
            {
                "message": "PersistedQueryNotFound",
                "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
            }
        ]
    }
    assert registered.json()["data"]["mainStatusTransitions"]
    assert by_hash.json()["data"] == registered.json()["data"]


async def test_under_graphql_response_json_a_missing_query_is_a_400(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post(
        "/graphql",
        json={"extensions": persisted(sha256(a_query()))},
        headers={"accept": "application/graphql-response+json"},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


@pytest.mark.parametrize(
    ("extensions", "code"),
    [
        (persisted("0" * 64), "VALIDATION"),  # not the query's hash
        (persisted("not-a-hash"), "VALIDATION"),
        (persisted(sha256("x"), version=2), "PERSISTED_QUERY_NOT_SUPPORTED"),
        ({"persistedQuery": "v1"}, "PERSISTED_QUERY_NOT_SUPPORTED"),
    ],
    ids=["wrong_hash", "malformed_hash", "version_2", "not_an_object"],
)
async def test_a_persisted_query_that_cannot_be_trusted_is_refused(
    http: httpx.AsyncClient, extensions: dict[str, Any], code: str
) -> None:
    response = await http.post("/graphql", json={"query": a_query(), "extensions": extensions})
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == code


def test_the_cache_forgets_the_least_recently_used_beyond_its_bounds() -> None:
    cache = PersistedQueries(max_documents=2, max_characters=10_000)
    queries = [a_query() for _ in range(3)]
    for query in queries[:2]:
        cache.resolve(_body(query, sha256(query)))
    cache.resolve(_body(None, sha256(queries[0])))  # used again: the second is now the oldest
    cache.resolve(_body(queries[2], sha256(queries[2])))

    assert b"mainStatusTransitions" in cache.resolve(_body(None, sha256(queries[0])))
    with pytest.raises(Refused, match="PersistedQueryNotFound"):
        cache.resolve(_body(None, sha256(queries[1])))


def test_the_cache_holds_no_more_characters_than_allowed() -> None:
    query = a_query()
    cache = PersistedQueries(max_documents=10, max_characters=len(query) - 1)
    cache.resolve(_body(query, sha256(query)))
    with pytest.raises(Refused, match="PersistedQueryNotFound"):
        cache.resolve(_body(None, sha256(query)))


def _body(query: str | None, digest: str) -> bytes:
    payload: dict[str, Any] = {"extensions": persisted(digest)}
    if query is not None:
        payload["query"] = query
    return orjson.dumps(payload)
