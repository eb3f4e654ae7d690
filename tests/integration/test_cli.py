"""The command line as an operator uses it: real processes, real ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.conftest import ADMIN_URL, FRAGMENTS, _plain

CLI = [sys.executable, "-m", "order_graph.cli"]


def _env(database_url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "ORDER_GRAPH_DATABASE_URL": database_url, **extra}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def empty_postgres_url() -> Iterator[str]:
    name = f"order_graph_empty_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(_plain(ADMIN_URL))
    await admin.execute(f'CREATE DATABASE "{name}"')
    yield ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


def test_serve_refuses_an_unmigrated_postgres(empty_postgres_url: str) -> None:
    result = subprocess.run(
        [*CLI, "serve"],
        env=_env(empty_postgres_url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "order-graph migrate" in result.stderr


def test_migrate_then_seed_fills_postgres(empty_postgres_url: str) -> None:
    env = _env(empty_postgres_url)
    subprocess.run([*CLI, "migrate"], env=env, check=True, timeout=60, capture_output=True)
    seeded = subprocess.run(
        [*CLI, "seed-demo", "--orders", "15"], env=env, check=True, timeout=120, capture_output=True
    )
    assert b"created 15 demo orders" in seeded.stdout
    again = subprocess.run(
        [*CLI, "seed-demo", "--if-empty"], env=env, check=True, timeout=60, capture_output=True
    )
    assert b"created 0 demo orders" in again.stdout


def test_serve_on_the_embedded_default_migrates_and_answers(tmp_path: Path) -> None:
    port = _free_port()
    env = _env(
        f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}",
        ORDER_GRAPH_PORT=str(port),
        ORDER_GRAPH_AUTH="off",
    )
    server = subprocess.Popen([*CLI, "serve"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        for line in server.stderr:  # uvicorn says when it is listening
            if "Uvicorn running" in line:
                break
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/readyz").json() == {"status": "ok"}
        query = FRAGMENTS + "query { orders(first: 5) { edges { node { ...OrderFull } } } }"
        body = httpx.post(f"{base}/graphql", json={"query": query}).json()
        assert body["data"] == {"orders": {"edges": []}}
    finally:
        server.terminate()
        assert server.wait(timeout=30) == 0


def test_several_workers_serve_and_add_up_their_metrics(tmp_path: Path) -> None:
    port = _free_port()
    env = _env(
        f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}",
        ORDER_GRAPH_PORT=str(port),
        ORDER_GRAPH_AUTH="off",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
    )
    (tmp_path / "metrics").mkdir()
    server = subprocess.Popen(
        [*CLI, "serve", "--workers", "2"], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        assert server.stderr is not None
        started = 0
        for line in server.stderr:  # each worker says when its app is up
            started += "Application startup complete" in line
            if started == 2:
                break
        base = f"http://127.0.0.1:{port}"
        for _ in range(20):
            query = {"query": "query Ping { __typename }"}
            assert httpx.post(f"{base}/graphql", json=query).status_code == 200
        metrics = httpx.get(f"{base}/metrics").text
        line = next(
            line
            for line in metrics.splitlines()
            if line.startswith("order_graph_graphql_requests_total{") and 'operation="Ping"' in line
        )
        assert float(line.rsplit(" ", 1)[1]) == 20  # whichever worker answered each
    finally:
        server.terminate()
        server.wait(timeout=30)
