from __future__ import annotations

from pathlib import Path

from tests.conftest import GraphQLClient

ROOT = Path(__file__).parents[2]


async def test_malformed_json_gets_a_graphql_error_body(gql: GraphQLClient) -> None:
    response = await gql.http.post(
        "/graphql", content=b'{"query": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Unable to parse request body as JSON"}]}


async def test_wrong_content_type_gets_a_graphql_error_body(gql: GraphQLClient) -> None:
    response = await gql.http.post(
        "/graphql", content=b"query { __typename }", headers={"content-type": "text/csv"}
    )
    assert 400 <= response.status_code < 500
    assert response.json()["errors"][0]["message"]
    assert "Traceback" not in response.text


async def test_a_query_without_a_query_is_a_client_error(gql: GraphQLClient) -> None:
    response = await gql.http.post("/graphql", json={"variables": {}})
    assert response.status_code == 400
    assert "errors" in response.json()


async def test_browsers_get_graphiql(gql: GraphQLClient) -> None:
    response = await gql.http.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_health_and_readiness(gql: GraphQLClient) -> None:
    assert (await gql.http.get("/healthz")).json() == {"status": "ok"}
    ready = await gql.http.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ok"})


async def test_fragments_and_schema_are_published(gql: GraphQLClient) -> None:
    fragments = await gql.http.get("/fragments.graphql")
    assert fragments.text == (ROOT / "fragments.graphql").read_text()
    schema = await gql.http.get("/schema.graphql")
    assert schema.text == (ROOT / "schema.graphql").read_text()


async def test_unknown_fields_are_validation_errors_not_crashes(gql: GraphQLClient) -> None:
    body = await gql.raw("query { order(id: 1) { nope } }")
    assert "data" not in body  # refused before execution: no data entry
    assert "nope" in body["errors"][0]["message"]
