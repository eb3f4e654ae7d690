"""The command line as an operator uses it: real processes, real ports."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import uuid
from asyncio.subprocess import PIPE
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from order_graph.storage.migrate import head_revision
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


@dataclass(frozen=True)
class Run:
    command: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


async def run_all(env: dict[str, str], *commands: tuple[str, ...]) -> list[Run]:
    """Runs the commands at once (each is a process start of about a second)."""

    async def one(command: tuple[str, ...]) -> Run:
        process = await asyncio.create_subprocess_exec(
            *command,
            env=env,
            stdout=PIPE,
            stderr=PIPE,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: workers included
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), 60)
        except TimeoutError:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
            pytest.fail(f"{command} was still running after 60 s")
        assert process.returncode is not None
        return Run(command, process.returncode, out.decode(), err.decode())

    return list(await asyncio.gather(*(one(command) for command in commands)))


def assert_one_line(run: Run, *wanted: str) -> None:
    """Refused: a non-zero exit and one line on stderr that says what to do."""
    assert run.returncode != 0, run
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run
    assert "Traceback" not in run.stderr, run
    for text in wanted:
        assert text in lines[0], run


DATABASE_COMMANDS = [
    ("migrate",),
    ("serve",),
    ("clients", "list"),
    ("seed-demo",),
    ("prune-events",),
    ("deadlines",),
]


async def test_a_wrong_database_url_is_one_line_from_every_command() -> None:
    refused = "postgresql+asyncpg://postgres:secret@127.0.0.1:1/orders"  # nothing listens there
    runs = [(refused, command) for command in DATABASE_COMMANDS if command != ("migrate",)]
    runs += [
        (url, ("migrate",))
        for url in (
            refused,
            "postgresql+asyncpg://postgres:secret@127.0.0.1:5432/no_such_database_here",
            "postgres://postgres:secret@127.0.0.1/orders",  # a driver that is not installed
            "not a url",
        )
    ]
    results = await asyncio.gather(*(run_all(_env(url), (*CLI, *cmd)) for url, cmd in runs))
    for (run,) in results:
        assert_one_line(run, "ORDER_GRAPH_DATABASE_URL" if "driver" not in run.stderr else "")
        assert "secret" not in run.stderr  # the password is not repeated


async def test_commands_on_an_unmigrated_database_say_to_run_migrate(
    empty_postgres_url: str,
) -> None:
    env = _env(empty_postgres_url)
    commands = [(*CLI, *c) for c in DATABASE_COMMANDS if c != ("migrate",)]
    commands += [(*CLI, "relay"), (sys.executable, "-m", "order_graph.relay")]
    for run in await run_all(env, *commands):
        assert run.returncode == 2, run
        # The relay logs its refusal as a log line; the others print it as it is.
        assert_one_line(run, "run `order-graph migrate` first")


async def test_an_invalid_setting_is_one_line(postgres_url: str) -> None:
    bad_auth = await run_all(
        _env(postgres_url, ORDER_GRAPH_AUTH="maybe"), (*CLI, "clients", "list")
    )
    relay = (sys.executable, "-m", "order_graph.relay")
    bad_prefix = await run_all(_env(postgres_url, ORDER_GRAPH_NATS_SUBJECT_PREFIX="a.*"), relay)
    assert_one_line(bad_auth[0], "ORDER_GRAPH_AUTH is not valid")
    assert_one_line(bad_prefix[0], "ORDER_GRAPH_NATS_SUBJECT_PREFIX is not valid")


async def test_migrate_says_from_which_revision_to_which(empty_postgres_url: str) -> None:
    env = _env(empty_postgres_url)
    (first,) = await run_all(env, (*CLI, "migrate"))
    assert first.returncode == 0, first
    head = head_revision()
    assert first.stdout.strip() == f"migrated the database from an empty schema to revision {head}"
    (again,) = await run_all(env, (*CLI, "migrate"))
    assert again.stdout.strip() == (
        f"the database is already at the newest revision ({head}); nothing to do"
    )


async def test_the_relay_module_prints_its_help_instead_of_starting() -> None:
    (run,) = await run_all(dict(os.environ), (sys.executable, "-m", "order_graph.relay", "--help"))
    assert run.returncode == 0, run
    assert run.stdout.startswith("usage: python -m order_graph.relay")
    assert "ORDER_GRAPH_NATS_URL" in run.stdout


async def test_serve_refuses_several_workers_on_the_embedded_sqlite(tmp_path: Path) -> None:
    env = _env(f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}", ORDER_GRAPH_AUTH="off")
    (run,) = await run_all(env, (*CLI, "serve", "--workers", "2"))
    assert run.returncode == 2
    assert_one_line(run, "--workers needs PostgreSQL")


async def test_a_client_bound_to_an_empty_store_list_is_refused(postgres_url: str) -> None:
    name = f"nowhere-{uuid.uuid4().hex[:8]}"
    env = _env(postgres_url)
    create = (*CLI, "clients", "create", "--name", name, "--scopes", "orders:read")
    for run in await run_all(env, (*create, "--stores", ""), (*create, "--stores", " , ")):
        assert run.returncode == 2
        assert_one_line(run, "--stores names no store")
        assert "og_" not in run.stdout  # no key was made
    (listed,) = await run_all(env, (*CLI, "clients", "list"))
    assert name not in listed.stdout


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


def test_several_workers_serve_and_add_up_their_metrics(postgres_url: str, tmp_path: Path) -> None:
    port = _free_port()
    env = _env(
        postgres_url,
        ORDER_GRAPH_PORT=str(port),
        ORDER_GRAPH_DB_POOL_SIZE="2",
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
