"""GraphiQL is served whole by this server, from packages pip installs, and opens on a
document that is valid and shows the tiers and a subscription. (A real browser loads it
with the outside network blocked in tests/clients/graphiql.test.mjs.)"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest
from graphql import OperationDefinitionNode, build_schema, parse, validate

from tests.support.apps import in_process

ROOT = Path(__file__).parents[2]
CONFIG = re.compile(r'<script type="application/json" id="order-graph-config">(.*?)</script>')
Client = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def client(sqlite_url: str) -> Client:
    return functools.partial(in_process, sqlite_url)


async def page(http: httpx.AsyncClient) -> str:
    response = await http.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    return response.text


def config(html: str) -> dict[str, str]:
    match = CONFIG.search(html)
    assert match is not None
    loaded: dict[str, str] = json.loads(match.group(1))
    return loaded


async def test_the_page_loads_everything_from_this_server(client: Client) -> None:
    async with client(auth="off") as http:
        html = await page(http)
        references = re.findall(r'(?:src|href)="([^"]+)"', html)
        assets = [await http.get(f"/{reference}") for reference in references]
    assert "://" not in CONFIG.sub("", html)  # no other host: no CDN
    assert sorted(references) == [
        "graphiql/graphiql.min.css",
        "graphiql/graphiql.min.js",
        "graphiql/order-graph.js",
        "graphiql/react-dom.production.min.js",
        "graphiql/react.production.min.js",
    ]
    for reference, asset in zip(references, assets, strict=True):
        assert asset.status_code == 200, reference
        assert len(asset.content) > 1000, reference
        kind = "text/css" if reference.endswith(".css") else "text/javascript"
        assert asset.headers["content-type"].startswith(kind)
        assert "max-age" in asset.headers["cache-control"]


async def test_assets_are_compressed_for_browsers_that_accept_it(client: Client) -> None:
    async with client(auth="off") as http:
        plain = await http.get("/graphiql/graphiql.min.js", headers={"accept-encoding": "identity"})
        packed = await http.get("/graphiql/graphiql.min.js", headers={"accept-encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert int(packed.headers["content-length"]) < len(plain.content) / 2
    assert packed.content == plain.content  # httpx decodes it


async def test_the_default_document_is_valid_and_shows_the_tiers_and_a_subscription(
    client: Client,
) -> None:
    async with client(auth="required") as http:
        document = config(await page(http))["document"]
    schema = build_schema((ROOT / "schema.graphql").read_text())
    parsed = parse(document)
    assert validate(schema, parsed) == []
    operations = {
        d.name.value: d.operation.value
        for d in parsed.definitions
        if isinstance(d, OperationDefinitionNode) and d.name
    }
    assert operations == {
        "OrderList": "query",
        "OrderCard": "query",
        "OrderDetail": "query",
        "FollowOrders": "subscription",
    }
    for tier in ("...OrderSummary", "...OrderStandard", "...OrderFull"):
        assert tier in document


@pytest.mark.parametrize(
    ("auth", "header"), [("required", "Authorization"), ("off", "X-Client-Id")]
)
async def test_the_headers_tab_starts_with_the_header_this_server_wants(
    client: Client, auth: str, header: str
) -> None:
    async with client(auth=auth) as http:
        loaded = config(await page(http))
    assert list(json.loads(loaded["headers"])) == [header]
    assert '"Authorization": "Bearer og_..."' in loaded["document"]
    assert set(json.loads(loaded["variables"])) == {"storeIds", "id", "after"}


async def test_graphiql_can_be_switched_off(client: Client) -> None:
    async with client(auth="off", graphiql=False) as http:
        html = await http.get("/graphql", headers={"accept": "text/html"})
        asset = await http.get("/graphiql/graphiql.min.js")
    assert (html.status_code, asset.status_code) == (404, 404)
