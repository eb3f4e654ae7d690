"""What the event log costs writers: transitions/s with and without it, and a slow neighbour.

    .venv/bin/python bench/writes.py [--writers 1,8,32,64] [--seconds 3] [--rounds 3]

Against PostgreSQL (`BENCH_ADMIN_DSN`, default postgres@127.0.0.1:5432), in a database of its
own (`order_graph_bench_writes`: created, migrated and dropped again; `--keep` keeps it). Each
writer is a task calling `OrderService.transition` in this process, so the API layer is not
what is measured: it takes a fresh order (inserted in bulk beforehand, one store in 100) and
moves it through PAID, ACCEPTED, FULFILLING and COMPLETED, each move its own transaction, until
the round's time is up. Per number of writers, interleaved round by round, medians:

- `with_log`: the service as shipped (its event, and the sequencer pass after commit);
- `without_log`: the same service with the event-log statements left out (`_record` does
  nothing, no sequencer pass): the reference;
- `old_design`: the same service with the event recorded as before issue 16 (the counter row
  updated in the transaction, the event inserted with its position, NOTIFY before commit),
  re-enacted here on today's schema, so that "before" is measured in the same run.

Then the slow neighbour: the latency of sequential transitions on store B, median, while a
transition on store A holds its transaction open for 1 s after its event, and without it.

Writes `bench/results/<date>-writes.json`. The writers share one pool as large as the writers
(plus one for the sequencer), but never more connections than the server has free minus 10:
the pool used is recorded per row. Process CPU per transition is recorded too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from order_graph.domain.access import Principal
from order_graph.domain.model import EventType, OrderRecord
from order_graph.domain.status import MainStatus
from order_graph.events.sequencer import Sequencer
from order_graph.service import OrderService
from order_graph.storage import migrate
from order_graph.storage.database import Database

ROOT = Path(__file__).resolve().parents[1]
ADMIN_DSN = os.environ.get("BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASE = "order_graph_bench_writes"
LIFE = (MainStatus.PAID, MainStatus.ACCEPTED, MainStatus.FULFILLING, MainStatus.COMPLETED)
STORES = 100
ACTOR = Principal.trusted("bench")
VARIANTS = ("with_log", "without_log", "old_design")
PROBES, PROBE_EVERY = 18, 0.05  # slow neighbour: writes on store B, one every 50 ms
_OLD_APPEND = text(
    "WITH next AS (UPDATE event_counter SET position = position + 1 WHERE id = 1 "
    "RETURNING position) INSERT INTO order_events (position, type, order_id, store_id, version, "
    "main_status, sub_status, previous_main_status, previous_sub_status, actor, occurred_at) "
    "SELECT next.position, :type, :order_id, :store_id, :version, :main_status, :sub_status, "
    ":previous_main_status, :previous_sub_status, :actor, :occurred_at FROM next "
    "RETURNING position"
)


class NoPass(Sequencer):
    async def settle(self) -> None:
        return None


class Counting(Sequencer):
    """The shipped sequencer, counting its passes and what they numbered."""

    passes = 0
    numbered = 0

    async def _pass(self) -> int:
        numbered = await super()._pass()
        self.passes += 1
        self.numbered += numbered
        return numbered


class WithoutLog(OrderService):
    async def _record(
        self,
        conn: AsyncConnection,
        event_type: EventType,
        before: OrderRecord | None,
        after: OrderRecord,
        actor: str,
    ) -> None:
        return None


class OldDesign(OrderService):
    async def _record(
        self,
        conn: AsyncConnection,
        event_type: EventType,
        before: OrderRecord | None,
        after: OrderRecord,
        actor: str,
    ) -> None:
        values = {
            "type": event_type.value,
            "order_id": after.id,
            "store_id": after.store_id,
            "version": after.version,
            "main_status": after.main_status.value,
            "sub_status": after.sub_status,
            "previous_main_status": before.main_status.value if before else None,
            "previous_sub_status": before.sub_status if before else None,
            "actor": actor,
            "occurred_at": after.updated_at,
        }
        position = (await conn.execute(_OLD_APPEND, values)).scalar_one()
        await conn.execute(text("SELECT pg_notify('order_events', :p)"), {"p": str(position)})


class HeldOpen(OrderService):
    """Holds its transaction open for a second after recording its event."""

    def __init__(self, db: Database, sequencer: Sequencer | None = None) -> None:
        super().__init__(db, sequencer=sequencer)
        self.recorded = asyncio.Event()

    async def _record(
        self,
        conn: AsyncConnection,
        event_type: EventType,
        before: OrderRecord | None,
        after: OrderRecord,
        actor: str,
    ) -> None:
        await super()._record(conn, event_type, before, after, actor)
        self.recorded.set()
        await asyncio.sleep(1.0)


class HeldOpenOld(HeldOpen, OldDesign):
    """The same, recording as before issue 16."""


class Orders:
    """Fresh orders in CREATED, handed out once each."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.free: list[int] = []

    async def add(self, count: int, store: str | None = None) -> None:
        statement = text(
            "INSERT INTO orders (version, store_id, channel, fulfillment_type, currency, "
            "main_status, items_total, discount_total, delivery_fee, packaging_fee, "
            "payable_total, attributes, created_by, created_at, updated_at) "
            "SELECT 1, coalesce(:store, 'bench-' || (n % :stores)), 'POS', 'PICKUP', 'CNY', "
            "'CREATED', 2800, 0, 0, 0, 2800, '{}', 'bench', now(), now() "
            "FROM generate_series(1, :count) AS n RETURNING id"
        )
        async with self.db.write() as conn:
            params = {"count": count, "stores": STORES, "store": store}
            self.free.extend(reversed((await conn.execute(statement, params)).scalars().all()))

    def take(self) -> int:
        return self.free.pop()


async def writer(service: OrderService, orders: Orders, until: float, done: list[int]) -> None:
    while time.monotonic() < until:
        order_id = orders.take()
        for version, target in enumerate(LIFE, start=1):
            if time.monotonic() >= until:
                return
            await service.transition(ACTOR, order_id, target, None, None, version, None)
            done[0] += 1


class Backends:
    """CPU seconds of the PostgreSQL backends serving the bench database (from /proc)."""

    def __init__(self, admin: asyncpg.Connection, database: str) -> None:
        self.admin = admin
        self.database = database

    async def cpu(self) -> dict[int, float]:
        pids = await self.admin.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1", self.database
        )
        return {pid: used for (pid,) in pids if (used := _cpu_seconds(pid)) is not None}


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None  # gone
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def one_round(service: OrderService, writers: int, orders: Orders, seconds: float,
                    backends: Backends) -> tuple[float, float, float]:  # fmt: skip
    """Transitions/s, and this process's and PostgreSQL's CPU µs per transition."""
    needed = int(2_500 * seconds) + 4 * writers  # more than a round can use
    if len(orders.free) < needed:
        await orders.add(2 * needed)
    done = [0]
    pg_before, cpu_before = await backends.cpu(), process_cpu()
    began = time.monotonic()
    until = began + seconds
    await asyncio.gather(*(writer(service, orders, until, done) for _ in range(writers)))
    elapsed = time.monotonic() - began
    python = process_cpu() - cpu_before
    pg_after = await backends.cpu()
    postgres = sum(used - pg_before.get(pid, 0.0) for pid, used in pg_after.items())
    count = max(done[0], 1)
    return done[0] / elapsed, python / count * 1e6, postgres / count * 1e6


async def throughput(url: str, writers: int, args: argparse.Namespace, cap: int,
                     backends: Backends) -> dict[str, Any]:  # fmt: skip
    pool = min(writers + 1, cap)
    db = Database(url, pool_size=pool)
    try:
        counting = Counting(db)
        services: dict[str, OrderService] = {
            "with_log": OrderService(db, sequencer=counting),
            "without_log": WithoutLog(db, sequencer=NoPass(db)),
            "old_design": OldDesign(db, sequencer=NoPass(db)),
        }
        orders = Orders(db)
        for variant in VARIANTS:  # warm-up: connections opened, statements prepared
            await one_round(services[variant], writers, orders, 0.5, backends)
        counting.passes = counting.numbered = 0
        runs: dict[str, list[tuple[float, float, float]]] = {v: [] for v in VARIANTS}
        for n in range(args.rounds):
            order = VARIANTS if n % 2 == 0 else tuple(reversed(VARIANTS))
            for variant in order:
                run = await one_round(services[variant], writers, orders, args.seconds, backends)
                runs[variant].append(run)
    finally:
        await db.dispose()
    row: dict[str, Any] = {
        "pool": pool,
        "events_per_pass": round(counting.numbered / max(counting.passes, 1), 2),
    }
    for variant in VARIANTS:
        row[f"{variant}_tps"] = round(statistics.median(r[0] for r in runs[variant]), 1)
        row[f"{variant}_python_cpu_us"] = round(statistics.median(r[1] for r in runs[variant]))
        row[f"{variant}_postgres_cpu_us"] = round(statistics.median(r[2] for r in runs[variant]))
        row[f"{variant}_runs"] = [round(r[0], 1) for r in runs[variant]]
    row["ratio"] = round(row["with_log_tps"] / row["without_log_tps"], 3)
    row["old_design_ratio"] = round(row["old_design_tps"] / row["without_log_tps"], 3)

    def cpu(variant: str) -> float:
        return float(row[f"{variant}_python_cpu_us"] + row[f"{variant}_postgres_cpu_us"])

    # What the ratio would be were the machine's CPU the only limit (it is, on a small box).
    row["cpu_ratio"] = round(cpu("without_log") / cpu("with_log"), 3)
    return row


async def slow_neighbour(url: str, samples: int, old: bool) -> dict[str, float]:
    """Open loop: a write on store B starts every PROBE_EVERY seconds for most of a second,
    each moving a fresh order to PAID; with store A's transaction held open, and without."""
    db = Database(url, pool_size=PROBES + 4)
    try:
        service: OrderService = OldDesign(db, sequencer=NoPass(db)) if old else OrderService(db)
        held = (HeldOpenOld if old else HeldOpen)(db, sequencer=NoPass(db) if old else None)
        store_a, store_b = Orders(db), Orders(db)
        await store_a.add(samples, "store-a")
        await store_b.add((2 * samples + 1) * PROBES, "store-b")

        async def timed(order_id: int) -> float:
            began = time.perf_counter()
            await service.transition(ACTOR, order_id, MainStatus.PAID, None, None, 1, None)
            return (time.perf_counter() - began) * 1000

        async def probe() -> list[float]:
            writes = []
            for _ in range(PROBES):
                writes.append(asyncio.create_task(timed(store_b.take())))
                await asyncio.sleep(PROBE_EVERY)
            return list(await asyncio.gather(*writes))

        await probe()  # warm-up
        during: list[float] = []
        alone: list[float] = []
        for _ in range(samples):
            alone += await probe()
            held.recorded.clear()
            slow = asyncio.create_task(
                held.transition(ACTOR, store_a.take(), MainStatus.PAID, None, None, 1, None)
            )
            await held.recorded.wait()  # its event is in; its transaction stays open for 1 s
            during += await probe()
            await slow
    finally:
        await db.dispose()
    during_ms, alone_ms = statistics.median(during), statistics.median(alone)
    return {
        "during_ms": round(during_ms, 2),
        "without_ms": round(alone_ms, 2),
        "added_ms": round(during_ms - alone_ms, 2),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{args.database}"')
        used, limit = await admin.fetchrow(
            "SELECT count(*), current_setting('max_connections')::int FROM pg_stat_activity"
        )
        version = await admin.fetchval("SHOW server_version")
    finally:
        await admin.close()
    cap = max(limit - used - 10, 2)  # the server is shared: leave others room
    base = ADMIN_DSN.rpartition("/")[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    url = f"{base}/{args.database}"
    db = Database(url)
    await migrate.upgrade(db)
    await db.dispose()
    load_before = os.getloadavg()
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        writers = {}
        backends = Backends(admin, args.database)
        for count in args.writers:
            writers[str(count)] = await throughput(url, count, args, cap, backends)
            print(f"{count:>3} writers: {writers[str(count)]}", file=sys.stderr)
        neighbour = await slow_neighbour(url, args.samples, old=False)
        old_neighbour = await slow_neighbour(url, args.samples, old=True)
    finally:
        if not args.keep:
            await admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        await admin.close()
    return {
        "writers": writers,
        "slow_neighbour_added_ms": neighbour["added_ms"],
        "slow_neighbour": neighbour,
        "slow_neighbour_old_design": old_neighbour,
        "seconds_per_round": args.seconds,
        "rounds": args.rounds,
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "postgresql": version,
            "os": f"{platform.system()} {platform.release()}",
            "free_connections_cap": cap,
        },
        "commit": args.commit,
        "load_average": {"before": list(load_before), "after": list(os.getloadavg())},
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=lambda s: [int(n) for n in s.split(",")],
                        default=[1, 8, 32, 64])  # fmt: skip
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=5, help="slow-neighbour seconds held")
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--output", type=Path, help="default: bench/results/<date>-writes.json")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse()
    described = subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=ROOT
    )
    arguments.commit = described.stdout.strip() or None
    result = asyncio.run(main(arguments))
    output = arguments.output or (
        ROOT / "bench" / "results" / f"{datetime.now(UTC):%Y-%m-%d}-writes.json"
    )
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
