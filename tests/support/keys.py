"""API keys made the way an operator makes them: with `order-graph clients create`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ORDER_GRAPH_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "order_graph.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def new_client(database_url: str, scopes: str, stores: str | None = None) -> str:
    """A new client's API key."""
    name = f"app-{uuid.uuid4().hex[:8]}"
    args = ["clients", "create", "--name", name, "--scopes", scopes, "--json"]
    if stores:
        args += ["--stores", stores]
    result = cli(database_url, *args)
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout.strip().splitlines()[-1])
    assert created["name"] == name
    return str(created["key"])
