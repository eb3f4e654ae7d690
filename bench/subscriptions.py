"""Delivering events to subscribers under load: latency, CPU per delivery, SQL per change.

    .venv/bin/python bench/subscriptions.py [--stores 100] [--per-store 10] [--rate 200]
                                            [--seconds 20] [--fat] [--quick]

One `order-graph serve` worker (a real uvicorn process, authentication on, PostgreSQL, a
database of its own) serves `stores x per-store` websocket subscribers (graphql-transport-ws,
one connection each), spread like POS and kitchen screens: each store's subscribers use that
store's API key (bound to the store) and filter by it. Another process writes `--rate` changes
per second through the service (half new orders, half payments of them), spread over the
stores, and records when each change committed. The report:

- latency from commit to receipt, p50 and p99, matched on (orderId, version);
- the worker's CPU per delivery (its process CPU over the run / messages delivered);
- SQL per change: the bench database's transactions over the run (pg_stat_database), minus
  the writer's own, per change (the server's reads run in autocommit: one statement each);
- lost, duplicated or out-of-order messages (there must be none), and the worker's memory.

Every subscriber has its `connection_ack` and has received a probe event of its store before
writing starts; every receive has a timeout and the whole run a deadline, so it always ends.
`--quick` (`make bench-quick`): 20 stores x 10 subscribers, 40 changes/s, 6 s. JSON goes to
bench/results/<date>-subscriptions.json, under the run's label (skinny or fat, quick or full).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

from order_graph.api import ids
from order_graph.domain.access import Principal, Scope
from order_graph.domain.model import Channel, CreateOrder, FulfillmentType, ItemInput
from order_graph.domain.status import MainStatus
from order_graph.service import OrderService, utc_now
from order_graph.storage import clients, migrate
from order_graph.storage.database import Database

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
ADMIN_DSN = os.environ.get("BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
WRITER = Principal.trusted("bench-writer")
TIMEOUT = 30.0  # any single step: connecting, an ack, a probe, the drain
SKINNY = "cursor type orderId version mainStatus storeId occurredAt"
FAT = "cursor type orderId version order { id orderNo version mainStatus items { skuId quantity } }"


def document(fat: bool) -> str:
    selection = FAT if fat else SKINNY
    return (
        "subscription Screen($stores: [ID!]) "
        f"{{ orderEvents(filter: {{storeIds: $stores}}) {{ {selection} }} }}"
    )


def command(store: str) -> CreateOrder:
    return CreateOrder(
        store_id=store,
        channel=Channel.POS,
        fulfillment_type=FulfillmentType.DINE_IN,
        currency="CNY",
        items=(ItemInput("latte", "Latte", 2, Decimal("28.00")),),
    )


def store_ids(count: int) -> list[str]:
    return [f"store-{index:03d}" for index in range(count)]


def database_url(name: str) -> str:
    base, _, _ = ADMIN_DSN.rpartition("/")
    return f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


# --- The writer: another process, writing through the service ------------------------------


async def write(url: str, stores: list[str], rate: float, seconds: float, out: Path) -> None:
    """Open loop: change i starts at i / rate, whatever the earlier ones took."""
    db = Database(url, pool_size=8)
    service = OrderService(db)
    async with db.read() as conn:  # the pool's connections open before the clock starts
        await conn.exec_driver_sql("SELECT 1")
    print("READY", flush=True)
    if (await asyncio.to_thread(sys.stdin.readline)).strip() != "GO":
        return  # the bench gave up before writing started
    commits: list[tuple[str, int, float]] = []
    unpaid: list[int] = []
    slots = asyncio.Semaphore(32)
    total = int(rate * seconds)
    began = time.perf_counter()

    async def change(index: int) -> None:
        async with slots:
            if index % 2 == 0 or not unpaid:
                store = stores[(index // 2) % len(stores)]
                order, _ = await service.create_order(WRITER, command(store), None)
                unpaid.append(order.id)
            else:
                paid = await service.transition(
                    WRITER, unpaid.pop(0), MainStatus.PAID, None, None, None, None
                )
                order = paid
            commits.append((ids.encode("Order", order.id), order.version, time.time()))

    tasks = []
    for index in range(total):
        delay = began + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(change(index)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - began
    await db.dispose()
    await asyncio.to_thread(out.write_bytes, orjson.dumps({"commits": commits, "seconds": elapsed}))
    print("DONE", flush=True)


# --- Subscribers ----------------------------------------------------------------------------


@dataclass
class Subscriber:
    store: str
    socket: ClientConnection
    received: list[tuple[str, int, float, int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    first: asyncio.Event = field(default_factory=asyncio.Event)

    async def listen(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(self.socket.recv(), 1.0)
            except TimeoutError:
                continue
            except Exception as exc:  # the connection closed: report it, never hang
                self.errors.append(f"{type(exc).__name__}: {exc}")
                self.first.set()
                return
            now = time.time()
            message = orjson.loads(raw)
            if message.get("type") != "next":
                if message.get("type") != "ping":
                    self.errors.append(str(message)[:300])
                continue
            event = message["payload"]["data"]["orderEvents"]
            position = ids.decode_as("Event", event["cursor"])
            self.received.append((event["orderId"], event["version"], now, position))
            self.first.set()


async def subscribe(url: str, key: str, store: str, query: str, compression: bool) -> Subscriber:
    async def opened() -> Subscriber:
        socket_ = await connect(
            url,
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            compression="deflate" if compression else None,
            max_size=None,
        )
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {key}"}}
        await socket_.send(orjson.dumps(init).decode())
        ack = orjson.loads(await socket_.recv())
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"no connection_ack: {ack}")
        payload = {"query": query, "variables": {"stores": [store]}}
        await socket_.send(
            orjson.dumps({"id": "1", "type": "subscribe", "payload": payload}).decode()
        )
        return Subscriber(store, socket_)

    return await asyncio.wait_for(opened(), TIMEOUT)


# --- The run --------------------------------------------------------------------------------


async def create_database(stores: list[str], fat: bool) -> tuple[str, str, dict[str, str]]:
    name = f"order_graph_bench_subs_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = database_url(name)
    db = Database(url, pool_size=2)
    keys = {}
    scopes = frozenset({Scope.EVENTS_READ, *([Scope.ORDERS_READ] if fat else [])})
    try:
        await migrate.upgrade(db)
        async with db.write() as conn:
            for store in stores:
                keys[store] = clients.new_key()
                principal = Principal(f"pos-{store}", scopes, frozenset({store}))
                await clients.create(conn, principal, keys[store], utc_now())
    finally:
        await db.dispose()
    return name, url, keys


async def transactions(database: str) -> int:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        row = await admin.fetchrow(
            "SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = $1",
            database,
        )
        return int(row["n"])
    finally:
        await admin.close()


def start_server(url: str, port: int, folder: Path, compression: bool) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDER_GRAPH_")}
    env |= {
        "ORDER_GRAPH_DATABASE_URL": url,
        "ORDER_GRAPH_HOST": "127.0.0.1",
        "ORDER_GRAPH_PORT": str(port),
        "ORDER_GRAPH_AUTH": "required",
        "ORDER_GRAPH_DB_POOL_SIZE": "10",
        "ORDER_GRAPH_DEADLINE_RUNNER": "false",
        # permessage-deflate, when the subscribers offer it (`--compression`): off by default.
        "ORDER_GRAPH_WS_COMPRESSION": "true" if compression else "false",
    }
    sink = (folder / "server.log").open("wb")
    return subprocess.Popen(
        [str(ROOT / ".venv/bin/order-graph"), "serve"], env=env, stdout=sink, stderr=sink
    )


async def wait_until_ready(url: str) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the server did not start")


async def drained(subscribers: list[Subscriber], expected: int) -> None:
    """Until every expected message arrived, or TIMEOUT passed: polled, as receipts are."""
    deadline = time.monotonic() + TIMEOUT
    while sum(len(s.received) for s in subscribers) < expected:
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(0.05)


def percentile(values: list[float], percent: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


async def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    stores = store_ids(args.stores)
    count = args.stores * args.per_store
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, count * 2 + 256), hard), hard))
    name, url, keys = await create_database(stores, args.fat)
    port = free_port()
    server = start_server(url, port, folder, args.compression)
    writers: list[asyncio.subprocess.Process] = []
    subscribers: list[Subscriber] = []
    stop = asyncio.Event()
    listeners: list[asyncio.Task[None]] = []
    try:
        await wait_until_ready(f"http://127.0.0.1:{port}/healthz")
        rss_before = rss_mb(server.pid)
        query = document(args.fat)
        ws_url = f"ws://127.0.0.1:{port}/graphql"
        for start in range(0, count, 100):  # in waves: a thousand handshakes at once time out
            wave = [stores[i // args.per_store] for i in range(start, min(start + 100, count))]
            subscribers += await asyncio.gather(
                *(subscribe(ws_url, keys[s], s, query, args.compression) for s in wave)
            )
        listeners = [asyncio.create_task(s.listen(stop)) for s in subscribers]
        # Live, proven: one probe order per store, and every subscriber must receive its own.
        db = Database(url, pool_size=4)
        service = OrderService(db)
        for store in stores:
            await service.create_order(WRITER, command(store), None)
        await db.dispose()
        await asyncio.wait_for(asyncio.gather(*(s.first.wait() for s in subscribers)), TIMEOUT)
        broken = [s.errors for s in subscribers if s.errors or not s.received]
        if broken:
            raise RuntimeError(f"{len(broken)} subscribers not live: {broken[:3]}")
        rss_live = rss_mb(server.pid)
        for s in subscribers:
            s.received.clear()

        # The writers: other processes (more than one where one cannot keep the rate alone).
        writers = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--writer",
                url,
                (folder / f"commits-{index}.json").as_posix(),
                *stores[index :: args.writers],
                *("--rate", str(args.rate / args.writers), "--seconds", str(args.seconds)),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            for index in range(args.writers)
        ]
        for writer in writers:
            assert writer.stdout is not None
            line = await asyncio.wait_for(writer.stdout.readline(), TIMEOUT)
            if line.strip() != b"READY":
                raise RuntimeError(f"a writer did not start: {line!r}")
        xacts_before, cpu_before = await transactions(name), cpu_seconds(server.pid)
        began = time.time()
        profiler = None
        if args.profile:  # py-spy must be installed: `.venv/bin/pip install py-spy`
            profiler = await asyncio.create_subprocess_exec(
                str(ROOT / ".venv/bin/py-spy"),
                *("record", "--nonblocking", "-f", "raw", "-o", args.profile),
                *("-p", str(server.pid), "-d", str(int(args.seconds))),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
        for writer in writers:
            assert writer.stdin is not None
            writer.stdin.write(b"GO\n")
            await writer.stdin.drain()
        for writer in writers:
            assert writer.stdout is not None
            line = await asyncio.wait_for(writer.stdout.readline(), args.seconds * 3 + TIMEOUT)
            if line.strip() != b"DONE":
                raise RuntimeError(f"a writer failed: {line!r}")
        runs = [
            orjson.loads((folder / f"commits-{i}.json").read_bytes()) for i in range(args.writers)
        ]
        written = {
            "commits": [commit for run in runs for commit in run["commits"]],
            "seconds": max(run["seconds"] for run in runs),
        }
        commits = {(order, version): at for order, version, at in written["commits"]}
        expected = len(commits) * args.per_store
        await drained(subscribers, expected)
        if profiler is not None:
            await asyncio.wait_for(profiler.wait(), TIMEOUT)
        cpu = cpu_seconds(server.pid) - cpu_before
        wall = time.time() - began
        await asyncio.sleep(1.5)  # PostgreSQL publishes a backend's counters within a second
        xacts = await transactions(name) - xacts_before
    finally:
        stop.set()
        await asyncio.gather(*listeners, return_exceptions=True)
        await asyncio.gather(*(s.socket.close() for s in subscribers), return_exceptions=True)
        for writer in writers:
            if writer.returncode is None:
                writer.kill()
                await writer.wait()
        server.terminate()
        try:
            await asyncio.to_thread(server.wait, 30)
        except subprocess.TimeoutExpired:
            server.kill()
        admin = await asyncpg.connect(ADMIN_DSN)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

    latencies, duplicates, disordered = [], 0, 0
    timeline: list[tuple[float, float]] = []
    for s in subscribers:
        seen: set[tuple[str, int]] = set()
        last = 0
        for order, version, at, position in s.received:
            duplicates += (order, version) in seen
            seen.add((order, version))
            disordered += position <= last
            last = position
            if (order, version) in commits:
                latencies.append((at - commits[(order, version)]) * 1000)
                timeline.append((round(commits[(order, version)] - began, 3), latencies[-1]))
    deliveries = sum(len(s.received) for s in subscribers)
    changes = len(commits)
    (folder / "latencies.json").write_bytes(orjson.dumps(sorted(timeline)))
    # The writer's own: one transaction per change, plus its pool's setup at the start.
    server_xacts = xacts - changes
    return {
        "subscribers": count,
        "stores": args.stores,
        "shape": "fat" if args.fat else "skinny",
        "compression": args.compression,
        "changes": changes,
        "changes_per_second": round(changes / written["seconds"], 1),
        "deliveries": deliveries,
        "expected_deliveries": expected,
        "deliveries_per_second": round(deliveries / written["seconds"]),
        "lost": expected - deliveries + duplicates,
        "duplicates": duplicates,
        "out_of_order": disordered,
        "latency_ms": {
            "p50": round(percentile(latencies, 50), 1),
            "p99": round(percentile(latencies, 99), 1),
            "max": round(max(latencies, default=float("nan")), 1),
        },
        "worker_cores": round(cpu / wall, 2),
        "worker_cpu_us_per_delivery": round(cpu / max(deliveries, 1) * 1e6, 1),
        "sql_per_change": round(server_xacts / max(changes, 1), 2),
        "rss_mb": {"idle": round(rss_before, 1), "with_subscribers": round(rss_live, 1)},
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--writer":
        parser = argparse.ArgumentParser()
        parser.add_argument("--writer", dest="url")
        parser.add_argument("out", type=Path)
        parser.add_argument("stores", nargs="+")
        parser.add_argument("--rate", type=float)
        parser.add_argument("--seconds", type=float)
        w = parser.parse_args()
        asyncio.run(write(w.url, w.stores, w.rate, w.seconds, w.out))
        return 0
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stores", type=int, default=100)
    parser.add_argument("--per-store", type=int, default=10)
    parser.add_argument("--rate", type=float, default=200, help="changes per second")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--writers", type=int, default=2, help="writing processes")
    parser.add_argument("--fat", action="store_true", help="select the order (fat messages)")
    parser.add_argument("--compression", action="store_true", help="permessage-deflate")
    parser.add_argument("--quick", action="store_true", help="20 stores x 10, 40/s, 6 s")
    parser.add_argument("--label", default="")
    parser.add_argument("--profile", help="py-spy's samples of the worker to this file")
    args = parser.parse_args()
    if args.quick:
        args.stores, args.rate, args.seconds = 20, 40, 6
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"order-graph-subs-{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True)
    deadline = args.seconds * 4 + 300
    result = asyncio.run(asyncio.wait_for(run(args, folder), deadline))
    label = args.label or f"{'quick' if args.quick else 'full'}-{result['shape']}"
    result["label"] = label
    result["at"] = datetime.now(UTC).isoformat(timespec="seconds")
    print(json.dumps(result))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{datetime.now(UTC):%Y-%m-%d}-subscriptions.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    previous[label] = result
    path.write_text(json.dumps(previous, indent=2) + "\n")
    ok = result["lost"] == 0 and result["out_of_order"] == 0
    print("every message delivered once, in order" if ok else "LOST OR DISORDERED MESSAGES")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
