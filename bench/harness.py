"""What every step of bench/run.py shares: the run's settings, its database, its request bodies."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import asyncpg
import seed
from common import CLIENT_NAME, WORK, dsn
from scenarios import Scenario, transition_bodies

T = TypeVar("T")


@dataclass
class Config:
    quick: bool
    database: str
    orders: int
    connections: int
    warmup: int
    duration: int
    runs: int
    latency_duration: float
    bodies: int
    scenarios: list[Scenario]
    server_cpus: set[int] | None
    load_cpus: set[int] | None
    peer: bool


class Refused(Exception):
    """The servers disagree, or a precondition is missing: nothing is reported."""


def say(message: str) -> None:
    print(message, flush=True)


def db(database: str, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    async def run() -> T:
        conn = await asyncpg.connect(dsn(database))
        try:
            return await work(conn)
        finally:
            await conn.close()

    return asyncio.run(run())


def body_file(name: str, server: str = "") -> Path:
    """A scenario's request bodies; PostGraphile's (`server` "postgraphile") are its own."""
    return WORK / (f"{name}.{server}.jsonl" if server == "postgraphile" else f"{name}.jsonl")


def write_bodies(path: Path, bodies: Sequence[bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\n".join(bodies) + b"\n")
    return path


def fresh_transitions(cfg: Config, count: int) -> Path:
    """Adds `count` fresh PAID orders and writes one transition body for each."""

    async def add(conn: asyncpg.Connection) -> list[int]:
        return await seed.add_fresh_paid_orders(conn, count, CLIENT_NAME)

    ids = db(cfg.database, add)
    return write_bodies(body_file("transition"), transition_bodies(ids))
