"""`order-graph clients …`: register client applications, list them, revoke their keys."""

from __future__ import annotations

import argparse
import json
import sys

from sqlalchemy.exc import IntegrityError

from order_graph.domain.access import Principal, UnknownScope, parse_scopes
from order_graph.service import utc_now
from order_graph.storage import clients
from order_graph.storage.database import Database


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("clients", help="manage client applications and API keys")
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="register a client; prints its key once")
    create.add_argument("--name", required=True)
    create.add_argument("--scopes", required=True, help="comma separated, e.g. orders:read")
    create.add_argument("--stores", help="comma separated store ids the client is bound to")
    create.add_argument("--json", action="store_true", help="machine-readable output")
    create.add_argument(
        "--trusted-documents-only",
        action="store_true",
        help="the client may send registered documents only, by documentId",
    )
    actions.add_parser("list", help="list clients (never their keys)")
    documents = actions.add_parser(
        "trusted-documents-only", help="restrict a client to registered documents, or lift it"
    )
    documents.add_argument("name")
    documents.add_argument("setting", choices=["on", "off"])
    revoke = actions.add_parser("revoke", help="revoke a client's key")
    revoke.add_argument("name")


async def run(db: Database, args: argparse.Namespace) -> int:
    if args.action == "create":
        return await _create(db, args)
    if args.action == "list":
        return await _list(db)
    if args.action == "trusted-documents-only":
        return await _restrict(db, args.name, args.setting == "on")
    return await _revoke(db, args.name)


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


async def _create(db: Database, args: argparse.Namespace) -> int:
    try:
        scopes = parse_scopes(_split(args.scopes))
    except UnknownScope as exc:
        print(exc, file=sys.stderr)
        return 2
    stores = None if args.stores is None else frozenset(_split(args.stores))
    if stores is not None and not stores:
        # Fail closed: an empty binding must not mean "every store".
        print(
            "--stores names no store: give at least one store id, or leave --stores out to let "
            "the client see every store.",
            file=sys.stderr,
        )
        return 2
    principal = Principal(args.name, scopes, stores, args.trusted_documents_only)
    key = clients.new_key()
    try:
        async with db.write() as conn:
            await clients.create(conn, principal, key, utc_now())
    except IntegrityError:
        print(f"A client named {args.name!r} exists already.", file=sys.stderr)
        return 1
    if args.json:
        summary = {
            "name": principal.name,
            "scopes": sorted(principal.scopes),
            "stores": None if stores is None else sorted(stores),
            "trusted_documents_only": principal.trusted_documents_only,
            "key": key,
        }
        print(json.dumps(summary))
    else:
        print(f"Created client {principal.name!r}. Its API key, shown only this once:")
        print(key)
    return 0


async def _list(db: Database) -> int:
    async with db.read() as conn:
        found = await clients.list_all(conn)
    for info in found:
        principal = info.principal
        stores = (
            "all stores" if principal.store_ids is None else ",".join(sorted(principal.store_ids))
        )
        state = f"revoked {info.revoked_at:%Y-%m-%d}" if info.revoked_at else "active"
        if principal.trusted_documents_only:
            state += ", trusted documents only"
        print(f"{principal.name}\t{','.join(sorted(principal.scopes))}\t{stores}\t{state}")
    return 0


async def _revoke(db: Database, name: str) -> int:
    async with db.write() as conn:
        revoked = await clients.revoke(conn, name, utc_now())
    if not revoked:
        print(f"No active client named {name!r}.", file=sys.stderr)
        return 1
    print(f"Revoked {name!r}.")
    return 0


async def _restrict(db: Database, name: str, only: bool) -> int:
    async with db.write() as conn:
        changed = await clients.restrict_documents(conn, name, only)
    if not changed:
        print(f"No active client named {name!r}.", file=sys.stderr)
        return 1
    print(f"{name!r} may now send {'registered documents only' if only else 'any document'}.")
    return 0
