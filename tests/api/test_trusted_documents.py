"""Trusted documents: the official tiers and documents an admin registered run by their
`documentId`; a client can be restricted to them. Through the HTTP API with real keys, and the
command line as an operator runs it, on PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gql import gql
from gql.transport.exceptions import TransportError

from order_graph.api.official import official_documents
from tests.api.conftest import order_input
from tests.support.apps import in_process
from tests.support.clients import bearer, close_code, ws_session
from tests.support.keys import cli, new_client
from tests.support.servers import running_server

CREATE = """mutation Create($input: CreateOrderInput!) {
  createOrder(input: $input) { order { id } errors { code } }
}"""
MINE = "query Mine($id: ID!) { order(id: $id) { id version mainStatus } }\n"
GRAPHQL_RESPONSE = "application/graphql-response+json"


def official(operation: str) -> str:
    [found] = [k for k, text in official_documents().items() if f"query {operation}(" in text]
    return f"sha256:{found}"


@pytest.fixture(scope="module")
async def http(postgres_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process(postgres_url, auth_cache_seconds=0) as client:
        yield client


@pytest.fixture(scope="module")
def admin(postgres_url: str) -> dict[str, str]:
    return bearer(new_client(postgres_url, "admin"))


@pytest.fixture(scope="module")
def registered(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("documents") / "mine.graphql"
    path.write_text(MINE)
    done = cli(postgres_url, "documents", "register", str(path))
    assert done.returncode == 0, done.stderr
    digest = hashlib.sha256(MINE.encode()).hexdigest()
    assert done.stdout.startswith(f"sha256:{digest}\t")
    return f"sha256:{digest}"


async def post(http: httpx.AsyncClient, headers: dict[str, str], body: Any) -> httpx.Response:
    return await http.post("/graphql", json=body, headers={**headers, "accept": GRAPHQL_RESPONSE})


async def an_order(http: httpx.AsyncClient, admin: dict[str, str]) -> str:
    variables = {"input": order_input(f"store-{uuid.uuid4().hex[:8]}")}
    answer = await post(http, admin, {"query": CREATE, "variables": variables})
    return str(answer.json()["data"]["createOrder"]["order"]["id"])


async def test_an_official_tier_runs_by_its_id_as_its_text_does(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    order_id = await an_order(http, admin)
    document_id = official("OneOrderFull")
    by_id = await post(http, admin, {"documentId": document_id, "variables": {"id": order_id}})
    text = official_documents()[document_id.removeprefix("sha256:")]
    by_text = await post(http, admin, {"query": text, "variables": {"id": order_id}})
    assert by_id.status_code == 200
    assert by_id.json()["data"] == by_text.json()["data"]
    assert by_id.json()["data"]["order"]["id"] == order_id
    assert "OrderFull" in text
    assert "...OrderStandard" in text


async def test_a_document_registered_on_the_command_line_runs_by_its_id(
    http: httpx.AsyncClient, admin: dict[str, str], registered: str, postgres_url: str
) -> None:
    order_id = await an_order(http, admin)
    answer = await post(http, admin, {"documentId": registered, "variables": {"id": order_id}})
    assert answer.json()["data"] == {
        "order": {"id": order_id, "version": 1, "mainStatus": "CREATED"}
    }
    listed = cli(postgres_url, "documents", "list")
    assert f"{registered}\t" in listed.stdout
    assert "\tMine" in listed.stdout
    assert f"{official('OrderPageSummary')}\tofficial\tOrderPageSummary" in listed.stdout


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"documentId": "sha256:" + "0" * 64}, "PERSISTED_QUERY_NOT_FOUND"),
        ({"documentId": "0" * 64}, "VALIDATION"),
        ({"documentId": 7}, "VALIDATION"),
        ({"documentId": "sha256:" + "0" * 64, "query": "{ __typename }"}, "BAD_REQUEST"),
    ],
)
async def test_an_unknown_or_malformed_document_id_is_a_request_error(
    http: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any], code: str
) -> None:
    for media in (GRAPHQL_RESPONSE, "application/json"):
        answer = await http.post("/graphql", json=body, headers={**admin, "accept": media})
        assert answer.status_code == 400
        assert answer.json()["errors"][0]["extensions"]["code"] == code
        assert "data" not in answer.json()


async def test_a_restricted_client_sends_registered_documents_only(
    http: httpx.AsyncClient, admin: dict[str, str], registered: str, postgres_url: str
) -> None:
    name = f"kiosk-{uuid.uuid4().hex[:8]}"
    args = ["--name", name, "--scopes", "orders:read", "--trusted-documents-only", "--json"]
    created = cli(postgres_url, "clients", "create", *args)
    assert created.returncode == 0, created.stderr
    kiosk = bearer(json.loads(created.stdout.strip().splitlines()[-1])["key"])
    order_id = await an_order(http, admin)
    variables = {"id": order_id}

    refused = await post(http, kiosk, {"query": "{ mainStatusTransitions { from } }"})
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["extensions"]["code"] == "TRUSTED_DOCUMENTS_ONLY"
    by_id = await post(http, kiosk, {"documentId": registered, "variables": variables})
    assert by_id.json()["data"]["order"]["id"] == order_id
    official_id = official("OneOrderSummary")
    tier = await post(http, kiosk, {"documentId": official_id, "variables": variables})
    assert tier.json()["data"]["order"]["id"] == order_id
    # The text of a registered document is that document.
    as_text = await post(http, kiosk, {"query": MINE, "variables": variables})
    assert as_text.json()["data"]["order"]["id"] == order_id
    # Nor can the client register text of its own through APQ.
    apq = {"version": 1, "sha256Hash": hashlib.sha256(b"{ __typename }").hexdigest()}
    sneaked = await post(
        http, kiosk, {"query": "{ __typename }", "extensions": {"persistedQuery": apq}}
    )
    assert sneaked.status_code == 403
    assert sneaked.json()["errors"][0]["extensions"]["code"] == "TRUSTED_DOCUMENTS_ONLY"

    lifted = cli(postgres_url, "clients", "trusted-documents-only", name, "off")
    assert lifted.returncode == 0, lifted.stderr
    free = await post(http, kiosk, {"query": "{ mainStatusTransitions { from } }"})
    assert free.status_code == 200
    assert "errors" not in free.json()


def test_registering_a_document_again_changes_nothing(
    postgres_url: str, registered: str, tmp_path: Path
) -> None:
    path = tmp_path / "again.graphql"
    path.write_text(MINE)
    done = cli(postgres_url, "documents", "register", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("\talready registered")
    listed = cli(postgres_url, "documents", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count(registered) == 1


def test_a_document_that_cannot_run_is_not_registered(postgres_url: str, tmp_path: Path) -> None:
    path = tmp_path / "broken.graphql"
    path.write_text("query Broken { order(id: 1) { noSuchField } }")
    done = cli(postgres_url, "documents", "register", str(path))
    assert done.returncode == 2
    assert "noSuchField" in done.stderr
    assert "not registered" in done.stderr
    listed = cli(postgres_url, "documents", "list")
    assert listed.returncode == 0, listed.stderr
    assert "Broken" not in listed.stdout


async def test_a_restricted_client_cannot_open_a_websocket(postgres_url: str) -> None:
    """Its operations there would be text: it subscribes over HTTP by documentId instead."""
    created = cli(postgres_url, "clients", "create", "--name", f"kiosk-{uuid.uuid4().hex[:8]}",
                  "--scopes", "events:read", "--trusted-documents-only", "--json")  # fmt: skip
    kiosk = json.loads(created.stdout.strip().splitlines()[-1])["key"]
    with running_server(
        postgres_url, ORDER_GRAPH_AUTH="required", ORDER_GRAPH_DB_POOL_SIZE="2"
    ) as server:
        with pytest.raises(TransportError) as refused:
            async with ws_session(server.ws_url, kiosk):
                pass
        assert close_code(refused.value) == 4403
        async with ws_session(server.ws_url, new_client(postgres_url, "events:read")) as ws:
            # An unrestricted client's socket opens and answers.
            assert await ws.execute(gql("{ __typename }")) == {"__typename": "Query"}
