"""The `order-graph` command line."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from pydantic import ValidationError

from order_graph import client_admin, document_admin, preflight
from order_graph.config import Settings
from order_graph.events import log
from order_graph.preflight import Refusal
from order_graph.server import serve
from order_graph.service import utc_now
from order_graph.storage import idempotency, migrate
from order_graph.storage.database import Database


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="order-graph", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve_command = commands.add_parser("serve", help="serve the GraphQL API")
    serve_command.add_argument("--host")
    serve_command.add_argument("--port", type=int)
    serve_command.add_argument("--workers", type=int, default=1, help="worker processes")

    commands.add_parser("migrate", help="bring the database schema to the newest revision")

    export = commands.add_parser("export-schema", help="print the GraphQL schema (SDL)")
    export.add_argument("--check", action="store_true", help="fail when the file is stale")
    export.add_argument(
        "--federation", action="store_true", help="the federation subgraph's SDL instead"
    )
    export.add_argument("--path", type=Path, help="schema.graphql, or subgraph.graphql")

    seed = commands.add_parser("seed-demo", help="fill the database with realistic demo orders")
    seed.add_argument("--orders", type=int, default=200)
    seed.add_argument("--if-empty", action="store_true", help="only when there are no orders")

    commands.add_parser(
        "prune-events",
        help="delete events older than ORDER_GRAPH_EVENT_RETENTION_DAYS and expired "
        "idempotency keys",
    )

    client_admin.add_commands(commands)
    document_admin.add_commands(commands)
    commands.add_parser("relay", help="publish the event log to NATS JetStream")
    commands.add_parser("deadlines", help="fire due lifecycle deadlines (a dedicated runner)")

    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        return _refuse(args.command, preflight.setting_problem(exc))
    try:
        return _run(args, settings)
    except Refusal as refusal:
        return _refuse(args.command, str(refusal))


def _refuse(command: str, message: str) -> int:
    print(f"order-graph {command}: {message}", file=sys.stderr)
    return 2


def _run(args: argparse.Namespace, settings: Settings) -> int:
    url = settings.database_url
    if args.command == "serve":
        return _serve(settings, args.host, args.port, args.workers)
    if args.command == "migrate":
        print(preflight.on_database(url, _migrate, schema_checked=False))
        return 0
    if args.command == "export-schema":
        return _export_schema(args.check, args.federation, args.path)
    if args.command == "relay":
        from order_graph.relay.main import main as relay_main

        return relay_main(settings)
    if args.command == "deadlines":
        from order_graph.deadlines.main import main as deadlines_main

        return deadlines_main(settings)
    if args.command == "clients":
        return preflight.on_database(url, lambda db: client_admin.run(db, args))
    if args.command == "documents":
        return preflight.on_database(url, lambda db: document_admin.run(db, args))
    if args.command == "prune-events":
        events, keys = preflight.on_database(url, lambda db: _prune(db, settings))
        print(f"pruned {events} events and {keys} idempotency keys")
        return 0
    if args.command == "seed-demo":
        from order_graph.demo import seed_demo

        created = preflight.on_database(
            url,
            lambda db: seed_demo(db, args.orders, args.if_empty),
            # The embedded SQLite database is migrated by the command itself.
            schema_checked=not settings.is_sqlite,
        )
        print(f"created {created} demo orders")
        return 0
    return 2


async def _migrate(db: Database) -> str:
    before = await migrate.current_revision(db)
    if before is not None and not migrate.is_known(before):
        raise preflight.Refusal(
            f"the database schema is at revision {before}, which this version of order-graph "
            "does not know: run a newer order-graph"
        )
    await migrate.upgrade(db)
    after = await migrate.current_revision(db)
    if before == after:
        return f"the database is already at the newest revision ({after}); nothing to do"
    return f"migrated the database from {before or 'an empty schema'} to revision {after}"


async def _prune(db: Database, settings: Settings) -> tuple[int, int]:
    now = utc_now()
    async with db.write() as conn:
        events = await log.prune(conn, now - timedelta(days=settings.event_retention_days))
        keys = await idempotency.forget_before(
            conn, now - timedelta(hours=settings.idempotency_ttl_hours)
        )
    return events, keys


async def _ready_to_serve(db: Database) -> None:
    if db.is_sqlite:
        await migrate.upgrade(db)  # the embedded database migrates itself
    else:
        await preflight.require_newest_schema(db)


def _serve(settings: Settings, host: str | None, port: int | None, workers: int) -> int:
    if workers < 1:
        raise preflight.Refusal("--workers needs a number of 1 or more")
    if workers > 1 and settings.is_sqlite:
        raise preflight.Refusal(
            "--workers needs PostgreSQL: with the embedded SQLite database the subscribers of "
            "one worker would see the writes of the others only at the 5 s poll; serve one "
            "process, or set ORDER_GRAPH_DATABASE_URL to PostgreSQL"
        )
    preflight.on_database(settings.database_url, _ready_to_serve, schema_checked=False)
    if workers > 1:
        # Each worker writes its metrics here and /metrics adds them up.
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="order-graph-"))
    serve(settings, host or settings.host, port or settings.port, workers)
    return 0


def _export_schema(check: bool, federation: bool, path: Path | None) -> int:
    from order_graph.api.schema import sdl
    from order_graph.api.subgraph import subgraph_sdl

    printed = subgraph_sdl() if federation else sdl()
    if not check:
        sys.stdout.write(printed)
        return 0
    path = path or Path("subgraph.graphql" if federation else "schema.graphql")
    if not path.exists() or path.read_text() != printed:
        flag = " --federation" if federation else ""
        print(f"{path} is stale: run `order-graph export-schema{flag} > {path}`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
