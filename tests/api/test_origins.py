"""By default no page on another site may call the API; pages this server serves may."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from order_graph.app import create_app
from order_graph.config import Settings
from tests.support.apps import in_process

TYPENAME = {"query": "{ __typename }"}


@pytest.fixture(scope="module")
async def http(sqlite_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process(sqlite_url, auth="off") as client:
        yield client


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        (None, 200),  # not a browser page: servers, apps, command lines
        ("http://og.internal", 200),  # GraphiQL, served by this server
        ("https://og.internal", 200),  # the same host behind a TLS-terminating proxy
        ("https://shop.example.com", 403),
        ("http://og.internal:8080", 403),  # another port is another origin
        ("null", 403),  # sandboxed frames, files
    ],
)
async def test_only_pages_of_this_server_may_call_it_by_default(
    http: httpx.AsyncClient, origin: str | None, status: int
) -> None:
    headers = {} if origin is None else {"origin": origin}
    response = await http.post("/graphql", json=TYPENAME, headers=headers)
    assert response.status_code == status
    assert "access-control-allow-origin" not in response.headers


def test_an_origin_that_is_not_one_is_refused_at_start_up(sqlite_url: str) -> None:
    with pytest.raises(ValueError, match="ORDER_GRAPH_ALLOWED_ORIGINS: Invalid origin"):
        create_app(Settings(database_url=sqlite_url, allowed_origins="https://a.example/path"))
