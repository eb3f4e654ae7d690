"""GraphQL over HTTP, to the letter: media types, bodies, and the status of a request whose
operation never ran. (The graphql-http audit runs against a real server in tests/clients.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.apps import in_process

GR = "application/graphql-response+json"
JSON = "application/json"
TYPENAME = {"query": "{ __typename }"}


@pytest.fixture(scope="module")
async def http(sqlite_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process(sqlite_url, auth="off") as client:
        yield client


async def post(http: httpx.AsyncClient, accept: str | None, body: Any) -> httpx.Response:
    headers = {} if accept is None else {"accept": accept}
    return await http.post("/graphql", json=body, headers=headers)


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        (GR, GR),
        (JSON, JSON),
        (None, JSON),
        ("*/*", JSON),
        ("application/*", JSON),
        (f"{GR},{JSON};q=0.9", GR),  # Apollo Client's
        (f"{JSON},{GR};q=0.5", JSON),
        (f"text/html,{GR};q=0.8", GR),
    ],
)
async def test_the_answer_is_in_the_media_type_the_client_prefers(
    http: httpx.AsyncClient, accept: str | None, media: str
) -> None:
    response = await post(http, accept, TYPENAME)
    assert response.status_code == 200
    assert response.headers["content-type"] == media
    assert response.json()["data"] == {"__typename": "Query"}


@pytest.mark.parametrize("accept", ["text/html", "text/plain", f"{GR};q=0, {JSON};q=0"])
async def test_a_post_that_accepts_no_json_gets_406(http: httpx.AsyncClient, accept: str) -> None:
    response = await post(http, accept, TYPENAME)
    assert response.status_code == 406
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("{", None),  # does not parse
        ("{ nope }", None),  # does not validate
        ("query($id: ID!) { order(id: $id) { id } }", {"id": None}),  # a variable that fails
        ("{ " + " ".join(f"a{n}: __typename" for n in range(40)) + " }", None),  # a limit
    ],
    ids=["parse", "validation", "variables", "limit"],
)
async def test_a_request_error_has_no_data_and_its_status_depends_on_the_media_type(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None
) -> None:
    body = {"query": query, "variables": variables}
    strict, plain = await post(http, GR, body), await post(http, JSON, body)
    assert (strict.status_code, strict.headers["content-type"]) == (400, GR)
    assert (plain.status_code, plain.headers["content-type"]) == (200, JSON)
    for response in (strict, plain):
        assert "data" not in response.json()
        assert response.json()["errors"][0]["message"]


async def test_a_field_error_once_execution_ran_keeps_data_and_200(
    http: httpx.AsyncClient,
) -> None:
    response = await post(http, GR, {"query": '{ order(id: "bogus") { id } }'})
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"order": None}
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION"


async def test_a_graphql_document_body_is_run_with_the_query_strings_parameters(
    http: httpx.AsyncClient,
) -> None:
    document = """
    query A { a: __typename }
    query B($n: Int) { orders(first: $n) { pageInfo { hasNextPage } } }"""
    response = await http.post(
        "/graphql",
        content=document,
        params={"operationName": "B", "variables": '{"n": 1}'},
        headers={"content-type": "application/graphql"},
    )
    assert response.status_code == 200, response.text
    assert "orders" in response.json()["data"]


async def test_a_graphql_document_with_malformed_variables_is_a_400(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post(
        "/graphql",
        content="{ __typename }",
        params={"variables": "{nope"},
        headers={"content-type": "application/graphql"},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "multipart/form-data; boundary=x", "application/json; charset=latin-1"],
)
async def test_other_bodies_get_415(http: httpx.AsyncClient, content_type: str | None) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    response = await http.post("/graphql", content=b'{"query": "{ __typename }"}', headers=headers)
    assert response.status_code == 415
    assert response.json()["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


async def test_a_subscription_sent_as_a_plain_post_is_told_which_transports_stream(
    http: httpx.AsyncClient,
) -> None:
    response = await post(http, GR, {"query": "subscription { orderEvents { cursor } }"})
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "STREAM_REQUIRED"
    for transport in ("websocket", "multipart/mixed", "text/event-stream"):
        assert transport in error["message"]


@pytest.mark.parametrize(
    "accept",
    [
        "multipart/mixed;boundary=graphql;subscriptionSpec=1.0,application/json",
        'multipart/mixed;boundary="graphql";subscriptionSpec="1.0",application/json',
    ],
)
async def test_a_query_that_also_accepts_a_subscription_stream_is_answered_as_json(
    http: httpx.AsyncClient, accept: str
) -> None:
    response = await post(http, accept, TYPENAME)
    assert (response.status_code, response.headers["content-type"]) == (200, JSON)
    assert response.json()["data"] == {"__typename": "Query"}


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
async def test_other_methods_run_nothing_and_name_post(
    http: httpx.AsyncClient, method: str
) -> None:
    # PUT is how graphql-sse's single-connection mode would reserve a stream.
    response = await http.request(method, "/graphql", headers={"accept": JSON})
    assert (response.status_code, response.headers["allow"]) == (405, "POST")
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert "POST" in error["message"]


async def test_an_unauthenticated_call_is_a_401_in_the_media_type_asked_for(
    sqlite_url: str,
) -> None:
    async with in_process(sqlite_url, auth="required") as client:
        response = await post(client, GR, TYPENAME)
    assert (response.status_code, response.headers["content-type"]) == (401, GR)
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
