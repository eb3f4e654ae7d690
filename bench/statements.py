"""Counts the SQL statements order-graph runs for one request of each read scenario.

    .venv/bin/python bench/statements.py --database order_graph_bench --bodies-dir bench/.work

Runs the app in this process (its lifespan included) and counts what it sends on every path
(`Database.observe_statements`: SQLAlchemy's and the compiled reads' driver connections), as
tests/api/test_statement_count.py does. Each body is
sent twice first, so caches (the API key's lookup, parsing) are warm; the count is that of
the next request: what a request costs in the steady state. The environment decides the
authentication: ORDER_GRAPH_AUTH=off, or an API key in BENCH_API_KEY.

Prints one JSON object: {scenario: statements per request}.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import orjson
from common import DEFAULT_DATABASE, sqlalchemy_url
from scenarios import SCENARIOS

SAMPLES = 5


async def count(database: str, bodies_dir: Path) -> dict[str, int]:
    os.environ["ORDER_GRAPH_DATABASE_URL"] = sqlalchemy_url(database)
    import httpx

    from order_graph.app import create_app

    app = create_app()
    db = getattr(app.state, "db", None)
    if db is None:
        raise RuntimeError("order_graph.app.create_app() no longer puts its Database in app.state")
    seen = [0]

    def counter(*args: Any) -> None:
        seen[0] += 1

    headers = {"Content-Type": "application/json", "X-Client-Id": "bench"}
    key = os.environ.get("BENCH_API_KEY")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    counts: dict[str, int] = {}
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://bench") as http,
    ):
        stop = db.observe_statements(counter)
        for scenario in SCENARIOS:
            if not scenario.reads:
                continue
            path = bodies_dir / f"{scenario.name}.jsonl"
            bodies = path.read_bytes().splitlines()[:SAMPLES]
            found = set()
            for body in bodies:
                for _ in range(2):
                    await http.post("/graphql", content=body, headers=headers)
                seen[0] = 0
                response = await http.post("/graphql", content=body, headers=headers)
                answer = orjson.loads(response.content)
                if response.status_code != 200 or answer.get("errors"):
                    raise RuntimeError(f"{scenario.name}: {response.status_code} {answer}")
                found.add(seen[0])
            counts[scenario.name] = max(found)
            if counts[scenario.name] == 0:  # a counter that misses the path that answered
                raise RuntimeError(f"{scenario.name}: no statement counted")
        stop()
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--bodies-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    counts = asyncio.run(count(args.database, args.bodies_dir))
    sys.stdout.write(orjson.dumps(counts).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
