"""Shared fixtures: a fresh PostgreSQL database per session (dropped at the end), a SQLite file,
the app on each backend, and a small GraphQL client over httpx."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from order_graph.app import create_app
from order_graph.config import Settings
from order_graph.storage import migrate
from order_graph.storage.database import Database

ADMIN_URL = os.environ.get(
    "ORDER_GRAPH_TEST_ADMIN_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
FRAGMENTS = (Path(__file__).parents[1] / "fragments.graphql").read_text()


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def fresh_database(migrated: bool = True) -> AsyncIterator[str]:
    """A new (migrated) PostgreSQL database, dropped afterwards. PostgreSQL must run: no skip."""
    name = f"order_graph_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = await asyncpg.connect(_plain(ADMIN_URL))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL is required for the tests ({ADMIN_URL}): {exc}")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    if migrated:
        await _migrate(url)
    try:
        yield url
    finally:
        admin = await asyncpg.connect(_plain(ADMIN_URL))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(scope="session")
async def postgres_url() -> AsyncIterator[str]:
    """The test session's database, shared by the tests that isolate themselves by store."""
    async with fresh_database() as url:
        yield url


@pytest.fixture(scope="session")
async def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'orders.db'}"
    await _migrate(url)
    return url


async def _migrate(url: str) -> None:
    db = Database(url)
    try:
        await migrate.upgrade(db)
    finally:
        await db.dispose()


@pytest.fixture(scope="session", params=["postgresql", "sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    fixture = "postgres_url" if request.param == "postgresql" else "sqlite_url"
    return str(request.getfixturevalue(fixture))


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient, client_id: str = "test-suite") -> None:
        self.http = http
        self.client_id = client_id

    async def raw(
        self, query: str, variables: dict[str, Any] | None = None, **headers: str
    ) -> dict[str, Any]:
        response = await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"X-Client-Id": self.client_id, **headers},
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        body = await self.raw(query, variables)
        assert "errors" not in body, body
        return body["data"]

    def as_client(self, client_id: str) -> GraphQLClient:
        return GraphQLClient(self.http, client_id)


@pytest.fixture(scope="session")
async def app_and_db(database_url: str) -> AsyncIterator[Any]:
    # The behaviour suite acts as trusted callers named by X-Client-Id; access control has
    # its own suite (tests/api/test_access.py) with real keys.
    app = create_app(Settings(database_url=database_url, auth="off"))
    yield app
    await app.state.db.dispose()


@pytest.fixture
async def gql(app_and_db: Any) -> AsyncIterator[GraphQLClient]:
    transport = httpx.ASGITransport(app=app_and_db)
    async with httpx.AsyncClient(transport=transport, base_url="http://order-graph") as http:
        yield GraphQLClient(http)


@pytest.fixture
def db(app_and_db: Any) -> Database:
    database: Database = app_and_db.state.db
    return database


@pytest.fixture
def store_id() -> Iterator[str]:
    """A store of this test's own, so tests never see each other's orders."""
    return f"store-{uuid.uuid4().hex[:10]}"
