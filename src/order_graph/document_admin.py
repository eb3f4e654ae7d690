"""`order-graph documents …`: register trusted documents, list them with their ids.

Registration is the admin's act: whoever may run this command against the database. Each FILE
is one GraphQL document (its operations and the fragments they spread); it is parsed and
validated against the served schema before it is stored, so a registered document is known
to run. Registering the same text again changes nothing: its id is the SHA-256 of the text.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from graphql import GraphQLError, parse, validate

from order_graph.api.official import document_id, official_documents
from order_graph.api.schema import build_schema
from order_graph.service import utc_now
from order_graph.storage import documents
from order_graph.storage.database import Database


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("documents", help="register trusted documents, list their ids")
    actions = parser.add_subparsers(dest="action", required=True)
    register = actions.add_parser("register", help="validate and store GraphQL documents")
    register.add_argument("files", nargs="+", type=Path, metavar="FILE")
    actions.add_parser("list", help="the official and the registered documents, by id")


async def run(db: Database, args: argparse.Namespace) -> int:
    if args.action == "register":
        return await _register(db, args.files)
    return await _list(db)


def problems_of(text: str) -> list[str]:
    """Why the document cannot run against the served schema (nothing: it can)."""
    try:
        document = parse(text)
    except GraphQLError as error:
        return [error.message]
    return [error.message for error in validate(build_schema()._schema, document)]


async def _register(db: Database, files: list[Path]) -> int:
    texts = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            print(f"{path}: cannot be read ({exc}).", file=sys.stderr)
            return 2
        problems = problems_of(text)
        if problems:
            print(f"{path}: not registered: {'; '.join(problems)}", file=sys.stderr)
            return 2
        texts.append((path, text))
    by = getpass.getuser()
    async with db.write() as conn:
        for path, text in texts:
            digest = document_id(text)
            added = await documents.register(conn, digest, text, by, utc_now())
            print(f"sha256:{digest}\t{path}\t{'registered' if added else 'already registered'}")
    return 0


async def _list(db: Database) -> int:
    for digest, text in official_documents().items():
        print(f"sha256:{digest}\tofficial\t{_operations(text)}")
    async with db.read() as conn:
        found = await documents.list_all(conn)
    for stored in found:
        when = f"{stored.registered_at:%Y-%m-%d}"
        print(f"sha256:{stored.id}\t{stored.registered_by} {when}\t{_operations(stored.body)}")
    return 0


def _operations(text: str) -> str:
    names = [
        getattr(getattr(node, "name", None), "value", None) or "(anonymous)"
        for node in parse(text).definitions
        if node.kind == "operation_definition"
    ]
    return ",".join(names)
