"""The relay's throughput: messages per second from the event log into JetStream.

    .venv/bin/python bench/relay.py [--events 3000] [--stores 20] [--rounds 3]

Creates a PostgreSQL database of its own and writes `--events` events into it through the
service (orders created over `--stores` stores, then paid: two events per order), then runs the
relay in this process against the machine's NATS (127.0.0.1:4222, `BENCH_NATS_URL`) into a
stream of its own, and times it from start until JetStream holds every message (two per event:
skinny and fat). Each round publishes the whole log again into a fresh stream. It reports the
median messages/s and the relay's CPU per message (this process's CPU time over the run: the
relay is all this process does meanwhile), checks that the stream holds each event exactly
once per shape, in log order, and deletes its streams and its database at the end, whatever
happened. JSON goes to bench/results/<date>-relay.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg
import nats

from order_graph.domain.access import Principal
from order_graph.domain.model import Channel, CreateOrder, FulfillmentType, ItemInput
from order_graph.domain.status import MainStatus
from order_graph.relay.messages import EventMessages, read_batch
from order_graph.relay.publisher import connected
from order_graph.relay.runner import Relay
from order_graph.relay.settings import RelaySettings
from order_graph.relay.subjects import Shape
from order_graph.service import OrderService
from order_graph.storage import migrate
from order_graph.storage.database import Database

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
ADMIN_DSN = os.environ.get("BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
NATS_URL = os.environ.get("BENCH_NATS_URL", "nats://127.0.0.1:4222")
ACTOR = Principal.trusted("bench-relay")


def database_url(name: str) -> str:
    base, _, _ = ADMIN_DSN.rpartition("/")
    return f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1)


def command(store: str) -> CreateOrder:
    return CreateOrder(
        store_id=store,
        channel=Channel.APP,
        fulfillment_type=FulfillmentType.PICKUP,
        currency="CNY",
        items=(ItemInput("latte", "Latte", 2, Decimal("28.00")),),
    )


async def write_events(url: str, events: int, stores: int) -> None:
    db = Database(url, pool_size=8)
    try:
        await migrate.upgrade(db)
        service = OrderService(db)

        async def one(index: int) -> None:
            order, _ = await service.create_order(ACTOR, command(f"s{index % stores:03d}"), None)
            await service.transition(ACTOR, order.id, MainStatus.PAID, None, None, None, None)

        orders = events // 2
        for start in range(0, orders, 8):
            await asyncio.gather(*(one(i) for i in range(start, min(start + 8, orders))))
    finally:
        await db.dispose()


async def stream_messages(js: nats.js.JetStreamContext, stream: str) -> int:
    try:
        return int((await js.stream_info(stream)).state.messages)
    except nats.js.errors.NotFoundError:
        return 0


async def check_stream(js: nats.js.JetStreamContext, stream: str, events: int) -> str | None:
    """None when the stream holds each event once per shape, in log order."""
    seen: list[str] = []
    info = await js.stream_info(stream)
    for seq in range(1, info.state.last_seq + 1):
        message = await js.get_msg(stream, seq=seq)
        seen.append((message.headers or {}).get("Nats-Msg-Id", ""))
    if len(seen) != len(set(seen)):
        return "duplicates in the stream"
    if len(seen) != 2 * events:
        return f"{len(seen)} messages for {events} events"
    return None


async def one_round(url: str, stream: str, prefix: str, messages: int) -> dict[str, float]:
    settings = RelaySettings(
        database_url=url,
        nats_url=NATS_URL,
        nats_stream=stream,
        nats_subject_prefix=prefix,
        relay_poll_seconds=0.05,
        relay_standby_seconds=0.5,
    )
    client = await nats.connect(NATS_URL)
    js = client.jetstream()
    db = Database(url, pool_size=5)
    stop = asyncio.Event()
    relay = Relay(settings, db, stop)
    try:
        cpu, began = time.process_time(), time.perf_counter()
        task = asyncio.create_task(relay.run())
        deadline = began + 600
        while await stream_messages(js, stream) < messages:
            if task.done():
                task.result()
                raise RuntimeError("the relay stopped")
            if time.perf_counter() > deadline:
                raise RuntimeError("the relay did not publish everything within 10 minutes")
            await asyncio.sleep(0.02)
        elapsed, used = time.perf_counter() - began, time.process_time() - cpu
        stop.set()
        await asyncio.wait_for(task, 30)
        problem = await check_stream(js, stream, messages // 2)
        if problem:
            raise RuntimeError(problem)
        return {
            "seconds": round(elapsed, 3),
            "messages_per_second": round(messages / elapsed),
            "cpu_us_per_message": round(used / messages * 1e6, 1),
        }
    finally:
        stop.set()
        await db.dispose()
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(stream)
        await client.close()


async def publish_only(url: str, events: int, rounds: int, window: int) -> dict[str, object]:
    """The publishing alone, the same messages both ways, interleaved: one JetStream round trip
    per message (the relay before flow control) against `publish_batch` with a window."""
    from order_graph.relay.pipeline import publish_batch  # not in a tree from before it

    db = Database(url, pool_size=5)
    service = OrderService(db)
    batch: list[EventMessages] = []
    while len(batch) < events:
        after = batch[-1].position if batch else 0
        batch += await read_batch(db, service, after, 500)
    await db.dispose()
    figures: dict[str, list[float]] = {"sequential": [], "pipelined": []}
    for index in range(rounds):
        for way in figures:
            tag = f"{uuid.uuid4().hex[:8]}{index}"
            settings = RelaySettings(
                database_url=url,
                nats_url=NATS_URL,
                nats_stream=f"BENCH_PUB_{tag}",
                nats_subject_prefix=f"benchpub{tag}",
            )
            async with connected(settings) as publisher:
                await publisher.ensure_stream()
                began = time.perf_counter()
                if way == "sequential":
                    for event in batch:
                        for shape in Shape:
                            await publisher.publish(event, shape)
                else:
                    for start in range(0, len(batch), 100):
                        await publish_batch(
                            publisher, batch[start : start + 100], frozenset(), window
                        )
                figures[way].append(round(2 * len(batch) / (time.perf_counter() - began)))
                client = await nats.connect(NATS_URL)
                held = await stream_messages(client.jetstream(), settings.nats_stream)
                await client.jetstream().delete_stream(settings.nats_stream)
                await client.close()
                if held != 2 * len(batch):
                    raise RuntimeError(f"{way}: {held} messages for {len(batch)} events")
    return {
        way: {"rounds": runs, "messages_per_second": statistics.median(runs)}
        for way, runs in figures.items()
    }


async def measure(events: int, stores: int, rounds: int, both: bool) -> dict[str, object]:
    name = f"order_graph_bench_relay_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    try:
        url = database_url(name)
        await write_events(url, events, stores)
        publishing = None
        if both:
            window = RelaySettings().relay_publish_window
            publishing = await publish_only(url, events, rounds, window)
            print(json.dumps(publishing), flush=True)
        runs = []
        for index in range(rounds):
            tag = f"{uuid.uuid4().hex[:8]}{index}"
            runs.append(await one_round(url, f"BENCH_RELAY_{tag}", f"benchrelay{tag}", 2 * events))
            print(json.dumps(runs[-1]), flush=True)
        return {
            "events": events,
            "messages": 2 * events,
            "rounds": runs,
            "publishing_only": publishing,
            "messages_per_second": statistics.median(r["messages_per_second"] for r in runs),
            "cpu_us_per_message": statistics.median(r["cpu_us_per_message"] for r in runs),
            "load_average": os.getloadavg(),
        }
    finally:
        admin = await asyncpg.connect(ADMIN_DSN)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--stores", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--label", default="", help="stored with the result, e.g. before/after")
    parser.add_argument(
        "--relay-only", action="store_true", help="skip publishing both ways (older trees)"
    )
    args = parser.parse_args()
    events = args.events - args.events % 2
    result = asyncio.run(measure(events, args.stores, args.rounds, not args.relay_only))
    result["label"] = args.label
    result["at"] = datetime.now(UTC).isoformat(timespec="seconds")
    print(json.dumps(result))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{datetime.now(UTC):%Y-%m-%d}-relay.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    previous[args.label or "latest"] = result
    path.write_text(json.dumps(previous, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
