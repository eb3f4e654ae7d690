"""What the command line checks before it works on a database, and how it says what is wrong.

A command that cannot run says so in one line on stderr, saying what to do, and exits non-zero:
an unusable `ORDER_GRAPH_DATABASE_URL`, a database that cannot be reached, or a schema that is
not at the newest revision. Never a traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from order_graph.storage import migrate
from order_graph.storage.database import Database

T = TypeVar("T")

_URL_HINT = "set ORDER_GRAPH_DATABASE_URL to e.g. postgresql+asyncpg://user@host:5432/db"


class Refusal(Exception):
    """The command cannot run; the message is the one line the operator reads."""


class Unreachable(Refusal):
    """The database did not answer (it may be down, or the URL points elsewhere)."""


def setting_problem(exc: ValidationError) -> str:
    """An invalid `ORDER_GRAPH_*` variable, in one line."""
    error = exc.errors()[0]
    name = "ORDER_GRAPH_" + "_".join(str(part) for part in error["loc"]).upper()
    return f"{name} is not valid: {error['msg']}"


def shown_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a URL)"


def _first_line(exc: BaseException) -> str:
    reason = getattr(exc, "orig", None) or exc
    lines = str(reason).strip().splitlines()
    return (lines[0] if lines else type(reason).__name__)[:300]


def explain(url: str, exc: BaseException) -> Refusal | None:
    """A failure to reach or use the database as a one-line refusal; None for anything else."""
    where = shown_url(url)
    if isinstance(exc, ModuleNotFoundError):
        return Refusal(
            f"the database driver for {where} is not installed ({exc}); use "
            "postgresql+asyncpg://... or sqlite+aiosqlite:///..."
        )
    if isinstance(exc, ArgumentError):
        return Refusal(f"ORDER_GRAPH_DATABASE_URL is not usable ({_first_line(exc)}); {_URL_HINT}")
    if isinstance(exc, OSError) or (isinstance(exc, DBAPIError) and exc.statement is None):
        return Unreachable(
            f"cannot connect to the database at {where} ({_first_line(exc)}): check "
            "ORDER_GRAPH_DATABASE_URL and that the database is up"
        )
    if isinstance(exc, SQLAlchemyError):
        return Refusal(f"the database at {where} refused the command ({_first_line(exc)})")
    return None


def open_database(url: str, pool_size: int = 5) -> Database:
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:" and not Path(path).parent.is_dir():
            raise Refusal(
                f"the directory of the SQLite database {path} does not exist: create it, or "
                "set ORDER_GRAPH_DATABASE_URL"
            )
    try:
        return Database(url, pool_size)
    except (ArgumentError, ModuleNotFoundError) as exc:
        refusal = explain(url, exc)
        assert refusal is not None
        raise refusal from None


async def require_newest_schema(db: Database) -> None:
    current = await migrate.current_revision(db)
    head = migrate.head_revision()
    if current == head:
        return
    if current is None:
        raise Refusal("the database has no schema yet: run `order-graph migrate` first")
    if not migrate.is_known(current):
        raise Refusal(
            f"the database schema is at revision {current}, which this version of order-graph "
            "does not know: run a newer order-graph"
        )
    raise Refusal(
        f"the database schema is at revision {current}, not the newest ({head}): run "
        "`order-graph migrate` first"
    )


def on_database(
    url: str, work: Callable[[Database], Awaitable[T]], *, schema_checked: bool = True
) -> T:
    """Runs `work` on the database at `url` (after checking its schema is the newest), turning
    every database failure into a `Refusal`."""

    async def run() -> T:
        db = open_database(url)
        try:
            if schema_checked:
                await require_newest_schema(db)
            return await work(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except Refusal:
        raise
    except Exception as exc:
        refusal = explain(url, exc)
        if refusal is None:
            raise
        raise refusal from None


def check_database(url: str) -> None:
    """The start-up check of a long-running command: the URL, the connection, the schema."""
    on_database(url, _nothing)


async def _nothing(db: Database) -> None:
    pass
