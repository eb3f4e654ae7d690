"""Pruning the log, and what a consumer resuming from a pruned cursor is told."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from subprocess import PIPE

import httpx

from order_graph.api.events import cursor_of
from order_graph.app import create_app
from order_graph.config import Settings
from order_graph.storage import migrate
from order_graph.storage.database import Database
from tests.api.conftest import CREATE, order_input
from tests.conftest import GraphQLClient

PAGE = """
query Page($after: String) {
  orderEvents(after: $after) { edges { cursor node { type } } pageInfo { endCursor } }
}"""


async def test_a_cursor_older_than_the_retained_log_is_refused_clearly(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}"
    db = Database(url)
    await migrate.upgrade(db)
    await db.dispose()
    app = create_app(Settings(database_url=url, auth="off"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        gql = GraphQLClient(http)
        for _ in range(3):
            await gql.execute(CREATE, {"input": order_input("s1")})
        first = (await gql.execute(PAGE))["orderEvents"]["edges"][0]["cursor"]

        env = {
            **os.environ,
            "ORDER_GRAPH_DATABASE_URL": url,
            "ORDER_GRAPH_EVENT_RETENTION_DAYS": "-1",
        }
        prune = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "order_graph.cli", "prune-events", env=env, stdout=PIPE
        )
        stdout, _ = await prune.communicate()
        assert prune.returncode == 0
        assert b"pruned 3 events" in stdout

        body = await gql.raw(PAGE, {"after": first})
        assert body["errors"][0]["extensions"] == {"code": "CURSOR_EXPIRED"}
        assert "pruned" in body["errors"][0]["message"]

        await gql.execute(CREATE, {"input": order_input("s1")})
        fresh = (await gql.execute(PAGE))["orderEvents"]["edges"]
        assert [edge["node"]["type"] for edge in fresh] == ["CREATED"]
    await app.state.db.dispose()


async def test_a_cursor_ahead_of_the_log_is_refused(gql: GraphQLClient) -> None:
    body = await gql.raw(PAGE, {"after": cursor_of(10**12)})
    assert body["errors"][0]["extensions"] == {"code": "VALIDATION"}
