"""Seeds the benchmark's own PostgreSQL database, fast, with COPY straight into the tables.

    .venv/bin/python bench/seed.py                 # 20,000 orders into order_graph_bench
    .venv/bin/python bench/seed.py --orders 2000   # a small one (what --quick uses)
    .venv/bin/python bench/seed.py --force         # drop and seed again

Every order has about 5 items, 2 discounts (one on an item, one on the order) and 4 status
changes; one in ten also had an item cancelled after it was accepted, with a refund. Each
change has its event in the log (positions 1, 2, 3, ... in time order; the counter row
holds the last one). The database is recreated when it holds a different seed; the seed's size
and its last order id and event position are kept in the database's COMMENT, so the benchmark
can put the database back to exactly the seeded state before each server is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
from common import ADMIN_DSN, DEFAULT_DATABASE, ROOT, VENV_BIN, dsn, sqlalchemy_url

SEED_FORMAT = 2
STORES_PER_SEED = 50

_CITIES = {
    "sh": ["jingan", "xuhui", "pudong", "huangpu", "changning", "minhang", "putuo", "yangpu"],
    "bj": ["chaoyang", "haidian", "dongcheng", "xicheng", "fengtai", "shunyi", "tongzhou"],
    "gz": ["tianhe", "yuexiu", "haizhu", "liwan", "baiyun", "panyu"],
    "sz": ["nanshan", "futian", "luohu", "baoan", "longgang", "longhua"],
    "hz": ["xihu", "shangcheng", "gongshu", "binjiang", "yuhang"],
    "cd": ["jinjiang", "wuhou", "qingyang", "chenghua", "gaoxin"],
    "nj": ["gulou", "xuanwu", "qinhuai", "jianye"],
    "wh": ["jianghan", "wuchang", "hongshan", "qiaokou"],
    "xa": ["yanta", "beilin", "lianhu"],
}


def store_ids(count: int = STORES_PER_SEED) -> list[str]:
    names = [f"{city}-{district}" for city, ds in _CITIES.items() for district in ds]
    return [f"{names[n % len(names)]}-{n + 1:03d}" for n in range(count)]


# Stores that only the write scenarios use, so reads never see what they add.
WRITE_STORES = [f"bench-write-{n:02d}" for n in range(1, 6)]

# (sku, name, price in fen, is a drink)
MENU: list[tuple[str, str, int, bool]] = [
    ("latte-m", "Latte (M)", 2800, True),
    ("latte-l", "Latte (L)", 3200, True),
    ("americano-m", "Americano (M)", 2400, True),
    ("americano-l", "Americano (L)", 2600, True),
    ("flat-white", "Flat White", 3200, True),
    ("cappuccino", "Cappuccino", 2900, True),
    ("mocha", "Mocha", 3300, True),
    ("matcha-latte", "Matcha Latte 抹茶拿铁", 3000, True),
    ("coconut-latte", "Coconut Latte 生椰拿铁", 3100, True),
    ("oat-latte", "Oat Milk Latte", 3300, True),
    ("cold-brew", "Cold Brew", 2800, True),
    ("jasmine-tea", "Jasmine Milk Tea 茉莉奶绿", 1900, True),
    ("orange-juice", "Fresh Orange Juice", 2200, True),
    ("croissant", "Butter Croissant", 1850, False),
    ("pain-choc", "Pain au Chocolat", 2100, False),
    ("bagel-salmon", "Smoked Salmon Bagel", 4200, False),
    ("sandwich-chicken", "Chicken Sandwich", 3800, False),
    ("sandwich-egg", "Egg & Cheese Sandwich", 2600, False),
    ("cheesecake", "Basque Cheesecake", 3600, False),
    ("tiramisu", "Tiramisu", 3400, False),
    ("muffin-blueberry", "Blueberry Muffin", 1600, False),
    ("cookie", "Chocolate Chip Cookie", 1200, False),
    ("salad-caesar", "Caesar Salad", 4500, False),
    ("granola", "Yogurt Granola Bowl", 2900, False),
]

CHANNELS = [
    # channel, weight, source, actor
    ("MINI_PROGRAM", 35, "wechat-mini-program", "mini-program-bff"),
    ("APP", 20, "app", "app-bff"),
    ("DELIVERY_PLATFORM", 25, "meituan", "meituan-sync"),
    ("POS", 15, "pos", "pos-gateway"),
    ("WEB", 5, "web", "web-bff"),
]

REMARKS = [None] * 6 + [
    "Less ice 少冰",
    "No sugar",
    "Please call on arrival",
    "Leave it at the front desk",
    "Extra sauce 多加酱",
    "Oat milk instead of dairy",
]

SUB_STATUSES = [
    ("CREATED", "AWAITING_PAYMENT", "Waiting for the customer to pay"),
    ("PAID", "WAITING_POS_ACK", "Sent to the store's POS, not yet acknowledged"),
    ("ACCEPTED", "PREPARING", "The kitchen is making it"),
    ("ACCEPTED", "READY_FOR_PICKUP", "Waiting at the counter or for the rider"),
    ("FULFILLING", "RIDER_ASSIGNED", "A delivery rider took the order"),
    ("FULFILLING", "OUT_FOR_DELIVERY", "On its way"),
    ("FULFILLING", "HANDED_OVER", "Given to the customer at the counter"),
]

ORDER_COLUMNS = [
    "id",
    "version",
    "store_id",
    "channel",
    "fulfillment_type",
    "currency",
    "main_status",
    "sub_status",
    "items_total",
    "discount_total",
    "delivery_fee",
    "packaging_fee",
    "payable_total",
    "external_platform",
    "external_order_id",
    "customer_id",
    "remark",
    "attributes",
    "created_by",
    "created_at",
    "updated_at",
    "refunded_total",
]
ITEM_COLUMNS = [
    "id",
    "order_id",
    "position",
    "sku_id",
    "name",
    "quantity",
    "unit_price",
    "line_total",
    "attributes",
    "cancelled_quantity",
]
ITEM_CHANGE_COLUMNS = [
    "order_id",
    "version",
    "kind",
    "lines",
    "discounts",
    "refund_amount",
    "reason",
    "actor",
    "occurred_at",
]
DISCOUNT_COLUMNS = [
    "id",
    "order_id",
    "position",
    "kind",
    "code",
    "description",
    "amount",
    "item_id",
    "funded_by",
]
CHANGE_COLUMNS = [
    "order_id",
    "from_main_status",
    "to_main_status",
    "from_sub_status",
    "to_sub_status",
    "reason",
    "actor",
    "occurred_at",
    "version",
]
EVENT_COLUMNS = [
    "position",
    "type",
    "order_id",
    "store_id",
    "version",
    "main_status",
    "sub_status",
    "previous_main_status",
    "previous_sub_status",
    "actor",
    "occurred_at",
]


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


@dataclass
class Rows:
    orders: list[tuple[Any, ...]]
    items: list[tuple[Any, ...]]
    discounts: list[tuple[Any, ...]]
    changes: list[tuple[Any, ...]]
    item_changes: list[tuple[Any, ...]]
    # (occurred_at, order_id, version, event row without its position)
    events: list[tuple[datetime, int, int, tuple[Any, ...]]]


@dataclass(frozen=True)
class SeedInfo:
    database: str
    orders: int
    last_order_id: int
    last_position: int
    stores: list[str]

    def comment(self) -> str:
        return json.dumps(
            {
                "bench_seed": SEED_FORMAT,
                "orders": self.orders,
                "last_order_id": self.last_order_id,
                "last_position": self.last_position,
                "stores": len(self.stores),
            }
        )


class _Ids:
    """Explicit ids for a fresh batch, taken from the tables' own sequences."""

    def __init__(self, first_order: int, first_item: int, first_discount: int) -> None:
        self.order = first_order
        self.item = first_item
        self.discount = first_discount


def _items(rng: random.Random, ids: _Ids, order_id: int, count: int) -> list[tuple[Any, ...]]:
    rows = []
    for position, (sku, name, price, drink) in enumerate(rng.sample(MENU, count)):
        quantity = rng.choices((1, 2, 3), (70, 20, 10))[0]
        if drink:
            attributes: dict[str, Any] = {
                "size": sku.rsplit("-", 1)[-1].upper() if sku[-2:] in ("-m", "-l") else "M",
                "temperature": rng.choice(("hot", "iced")),
                "sugar": rng.choice(("normal", "less", "none")),
            }
        else:
            attributes = {"warmed": rng.random() < 0.5}
        rows.append(
            (
                ids.item,
                order_id,
                position,
                sku,
                name,
                quantity,
                price,
                price * quantity,
                _json(attributes),
                0,
            )
        )
        ids.item += 1
    return rows


def _order(
    rng: random.Random, ids: _Ids, stores: list[str], created_at: datetime, rows: Rows
) -> None:
    order_id = ids.order
    ids.order += 1
    channel, _, source, actor = rng.choices(CHANNELS, [c[1] for c in CHANNELS])[0]
    if channel == "DELIVERY_PLATFORM":
        fulfillment = "DELIVERY"
    elif channel in ("APP", "MINI_PROGRAM"):
        fulfillment = "DELIVERY" if rng.random() < 0.4 else "PICKUP"
    elif channel == "POS":
        fulfillment = "DINE_IN" if rng.random() < 0.6 else "PICKUP"
    else:
        fulfillment = "PICKUP"
    items = _items(rng, ids, order_id, rng.randint(3, 7))
    items_total = sum(item[7] for item in items)
    delivery_fee = rng.choice((500, 600, 800)) if fulfillment == "DELIVERY" else 0
    packaging_fee = 0 if fulfillment == "DINE_IN" else 200

    platform = channel == "DELIVERY_PLATFORM"
    first_line = items[0][7]
    promotion = min(first_line, (first_line // 5) // 10 * 10)
    coupon = rng.choice((300, 500, 800, 1000))
    discounts = [
        (
            ids.discount,
            order_id,
            0,
            "PROMOTION",
            "SPRING20",
            "20% off the first item",
            promotion,
            items[0][0],
            "MERCHANT",
        ),
        (
            ids.discount + 1,
            order_id,
            1,
            "PLATFORM" if platform else "COUPON",
            "MT-NEW10" if platform else rng.choice(("WELCOME5", "MEMBER8", "WEEKEND10")),
            "Platform subsidy" if platform else "Coupon",
            coupon,
            None,
            "PLATFORM" if platform else "MERCHANT",
        ),
    ]
    ids.discount += 2
    discount_total = promotion + coupon
    payable = items_total + delivery_fee + packaging_fee - discount_total

    attributes: dict[str, Any] = {"source": source}
    if fulfillment == "DINE_IN":
        attributes["table"] = f"{rng.choice('ABC')}{rng.randint(1, 30)}"
    if channel == "APP":
        attributes["appVersion"] = rng.choice(("5.2.1", "5.3.0", "5.3.2"))
    customer = (
        None if channel == "POS" and rng.random() < 0.3 else f"cust-{rng.randint(1, 8000):05d}"
    )

    # Four status changes: mostly completed history, some still open, some cancelled.
    delivery = fulfillment == "DELIVERY"
    fulfilling_sub = "RIDER_ASSIGNED" if delivery else "HANDED_OVER"
    roll = rng.random()
    steps: list[tuple[str, str | None, str | None]]  # (main, sub, reason)
    if roll < 0.7:
        steps = [
            ("PAID", "WAITING_POS_ACK" if platform else None, None),
            ("ACCEPTED", "PREPARING", None),
            ("FULFILLING", fulfilling_sub, None),
            ("COMPLETED", None, None),
        ]
    elif roll < 0.8:
        steps = [
            ("CREATED", "AWAITING_PAYMENT", None),
            ("PAID", None, None),
            ("ACCEPTED", "PREPARING", None),
            ("ACCEPTED", "READY_FOR_PICKUP", None),
        ]
    elif roll < 0.9:
        steps = [
            ("PAID", None, None),
            ("ACCEPTED", "PREPARING", None),
            ("FULFILLING", "RIDER_ASSIGNED" if delivery else "HANDED_OVER", None),
            ("FULFILLING", "OUT_FOR_DELIVERY" if delivery else None, None),
        ]
    else:
        steps = [
            ("CREATED", None, None),
            ("PAID", None, None),
            ("ACCEPTED", "PREPARING", None),
            ("CANCELLED", None, rng.choice(("Customer asked to cancel", "Out of stock"))),
        ]
    gaps = [(0, 0), (30, 180), (20, 120), (300, 900), (600, 2400)]
    at = created_at
    previous: tuple[str | None, str | None] = (None, None)
    store = rng.choice(stores)
    for version, (main, sub, reason) in enumerate(steps, start=1):
        if version > 1:
            at = at + timedelta(seconds=rng.uniform(*gaps[version - 1]))
        who = (
            actor
            if version == 1
            else ("delivery-dispatch" if main == "FULFILLING" else "pos-gateway")
        )
        rows.changes.append(
            (order_id, previous[0], main, previous[1], sub, reason, who, at, version)
        )
        kind = (
            "CREATED"
            if version == 1
            else ("STATUS_CHANGED" if main != previous[0] else "SUB_STATUS_CHANGED")
        )
        event = (kind, order_id, store, version, main, sub, previous[0], previous[1], who, at)
        rows.events.append((at, order_id, version, event))
        previous = (main, sub)
    version, refunded = len(steps), 0
    if previous == ("ACCEPTED", "READY_FOR_PICKUP"):
        # One unit of the last item was out of stock: cancelled, its price refunded.
        version += 1
        at = at + timedelta(seconds=rng.uniform(10, 60))
        last = items[-1]
        refunded = min(last[6], payable)
        items[-1] = (*last[:-1], 1)
        line = {
            "item_id": last[0],
            "sku_id": last[3],
            "name": last[4],
            "unit_price": last[6],
            "quantity_before": last[5],
            "quantity_after": last[5],
            "cancelled_quantity": 1,
        }
        rows.item_changes.append(
            (order_id, version, "ITEMS_CANCELLED", _json([line]), None, refunded,
             "Out of stock", "pos-gateway", at)
        )  # fmt: skip
        event = ("ITEMS_CHANGED", order_id, store, version, *previous, *previous, "pos-gateway", at)
        rows.events.append((at, order_id, version, event))
    external_platform = "meituan" if platform else None
    external_id = f"MT{8_100_000_000 + order_id}" if platform else None
    rows.orders.append(
        (
            order_id,
            version,
            store,
            channel,
            fulfillment,
            "CNY",
            previous[0],
            previous[1],
            items_total,
            discount_total,
            delivery_fee,
            packaging_fee,
            payable - refunded,
            external_platform,
            external_id,
            customer,
            rng.choice(REMARKS),
            _json(attributes),
            actor,
            created_at,
            at,
            refunded,
        )
    )
    rows.items.extend(items)
    rows.discounts.extend(discounts)


def _fresh(
    rng: random.Random, ids: _Ids, store: str, now: datetime, rows: Rows, actor: str
) -> None:
    """A just-paid order with three items: what the transition scenario accepts."""
    order_id = ids.order
    ids.order += 1
    items = _items(rng, ids, order_id, 3)
    items_total = sum(item[7] for item in items)
    payable = items_total + 200
    rows.orders.append(
        (
            order_id,
            1,
            store,
            "MINI_PROGRAM",
            "PICKUP",
            "CNY",
            "PAID",
            None,
            items_total,
            0,
            0,
            200,
            payable,
            None,
            None,
            f"cust-{rng.randint(1, 8000):05d}",
            None,
            _json({"source": "wechat-mini-program"}),
            actor,
            now,
            now,
            0,
        )
    )
    rows.items.extend(items)
    rows.changes.append((order_id, None, "PAID", None, None, None, actor, now, 1))
    event = ("CREATED", order_id, store, 1, "PAID", None, None, None, actor, now)
    rows.events.append((now, order_id, 1, event))


async def _next_ids(conn: asyncpg.Connection) -> _Ids:
    async def next_of(table: str) -> int:
        value = await conn.fetchval(f"SELECT coalesce(max(id), 0) + 1 FROM {table}")
        return int(value)

    return _Ids(
        await next_of("orders"), await next_of("order_items"), await next_of("order_discounts")
    )


async def _write(conn: asyncpg.Connection, rows: Rows) -> int:
    """Copies the rows in and numbers their events after the counter; returns the last one."""
    async with conn.transaction():
        start = int(
            await conn.fetchval("SELECT position FROM event_counter WHERE id = 1 FOR UPDATE")
        )
        await conn.copy_records_to_table("orders", records=rows.orders, columns=ORDER_COLUMNS)
        # Every table of an order carries its store (migration 0006), as the service writes it.
        store_of = {row[0]: row[ORDER_COLUMNS.index("store_id")] for row in rows.orders}
        for table, records, columns in (
            ("order_items", rows.items, ITEM_COLUMNS),
            ("order_discounts", rows.discounts, DISCOUNT_COLUMNS),
            ("status_changes", rows.changes, CHANGE_COLUMNS),
            ("order_changes", rows.item_changes, ITEM_CHANGE_COLUMNS),
        ):
            if records:
                at = columns.index("order_id")
                stored = [(*record, store_of[record[at]]) for record in records]
                await conn.copy_records_to_table(
                    table, records=stored, columns=[*columns, "store_id"]
                )
        rows.events.sort(key=lambda e: (e[0], e[1], e[2]))
        events = [(start + n, *e[3]) for n, e in enumerate(rows.events, start=1)]
        await conn.copy_records_to_table("order_events", records=events, columns=EVENT_COLUMNS)
        last = start + len(events)
        await conn.execute("UPDATE event_counter SET position = $1 WHERE id = 1", last)
        for table in (
            "orders",
            "order_items",
            "order_discounts",
            "status_changes",
            "order_changes",
        ):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {table}))"
            )
    return last


async def seed(conn: asyncpg.Connection, database: str, count: int) -> SeedInfo:
    rng = random.Random(20_000)
    stores = store_ids()
    ids = await _next_ids(conn)
    first = ids.order
    rows = Rows([], [], [], [], [], [])
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    span = timedelta(days=30).total_seconds()
    begin = end - timedelta(seconds=span)
    for n in range(count):
        offset = span * (n + rng.random() * 0.9) / count
        _order(rng, ids, stores, begin + timedelta(seconds=offset), rows)
    await conn.executemany(
        "INSERT INTO sub_status_definitions (main_status, code, description, defined_by, "
        "created_at) VALUES ($1, $2, $3, 'bench-seed', $4) ON CONFLICT DO NOTHING",
        [(main, code, text, begin) for main, code, text in SUB_STATUSES],
    )
    last = await _write(conn, rows)
    return SeedInfo(database, count, first + count - 1, last, stores)


async def add_fresh_paid_orders(
    conn: asyncpg.Connection, count: int, actor: str, identical: bool = False
) -> list[int]:
    """Adds `count` just-paid orders in the write-only stores; returns their ids.

    `identical` orders differ in their ids only (to compare two servers' writes)."""
    rng = random.Random()
    ids = await _next_ids(conn)
    first = ids.order
    rows = Rows([], [], [], [], [], [])
    now = datetime.now(UTC)
    for n in range(count):
        if identical:
            rng = random.Random(7)
        store = WRITE_STORES[0 if identical else n % len(WRITE_STORES)]
        _fresh(rng, ids, store, now, rows, actor)
    await _write(conn, rows)
    return list(range(first, first + count))


async def reset(conn: asyncpg.Connection, info: SeedInfo) -> int:
    """Removes what earlier benchmark runs wrote; returns how many orders went."""
    last = info.last_order_id
    async with conn.transaction():
        removed = int(await conn.fetchval("SELECT count(*) FROM orders WHERE id > $1", last))
        # Deleting items would check each one against order_discounts.item_id, which has no
        # index: quadratic for a run's 100,000 items. Every referencing row goes in the same
        # transaction anyway, so a superuser skips the checks (others just wait longer).
        is_superuser = await conn.fetchval(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        )
        if removed and is_superuser:
            await conn.execute("SET LOCAL session_replication_role = replica")
        if removed:
            for table in (
                "order_events",
                "idempotency_keys",
                "status_changes",
                "order_changes",
                "order_discounts",
            ):
                await conn.execute(f"DELETE FROM {table} WHERE order_id > $1", last)
            await conn.execute("DELETE FROM order_items WHERE order_id > $1", last)
            await conn.execute("DELETE FROM orders WHERE id > $1", last)
        await conn.execute("DELETE FROM order_events WHERE position > $1", info.last_position)
        await conn.execute(
            "UPDATE event_counter SET position = $1 WHERE id = 1", info.last_position
        )
    if removed:
        await conn.execute(
            "VACUUM ANALYZE orders, order_items, order_discounts, status_changes, order_events"
        )
    return removed


def migrate(database: str) -> None:
    env = {**os.environ, "ORDER_GRAPH_DATABASE_URL": sqlalchemy_url(database)}
    done = subprocess.run(
        [str(VENV_BIN / "order-graph"), "migrate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"order-graph migrate failed:\n{done.stdout}{done.stderr}")


async def _existing(admin: asyncpg.Connection, database: str) -> dict[str, Any] | None:
    row = await admin.fetchrow(
        "SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database "
        "WHERE datname = $1",
        database,
    )
    if row is None:
        return None
    try:
        found = json.loads(row["comment"] or "null")
    except ValueError:
        found = None
    return found if isinstance(found, dict) else {}


async def ensure(
    database: str = DEFAULT_DATABASE, orders: int = 20_000, force: bool = False, quiet: bool = False
) -> SeedInfo:
    """The seeded database, created (or recreated) and migrated as needed."""

    def say(message: str) -> None:
        if not quiet:
            print(message, flush=True)

    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        found = await _existing(admin, database)
        fits = (
            found is not None
            and found.get("bench_seed") == SEED_FORMAT
            and found.get("orders") == orders
            and not force
        )
        if fits and found is not None:
            try:
                migrate(database)
            except RuntimeError as exc:
                say(f"{exc}\nrecreating {database}")
                fits = False
        if fits and found is not None:
            say(f"{database}: already seeded with {orders} orders")
            return SeedInfo(
                database,
                orders,
                int(found["last_order_id"]),
                int(found["last_position"]),
                store_ids(int(found.get("stores", STORES_PER_SEED))),
            )
        started = time.perf_counter()
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{database}"')
        migrate(database)
        conn = await asyncpg.connect(dsn(database))
        try:
            info = await seed(conn, database, orders)
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()
        await admin.execute(f"COMMENT ON DATABASE \"{database}\" IS '{info.comment()}'")
        say(f"{database}: seeded {orders} orders in {time.perf_counter() - started:.1f}s")
        return info
    finally:
        await admin.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--force", action="store_true", help="drop and seed even when it fits")
    args = parser.parse_args(argv)
    asyncio.run(ensure(args.database, args.orders, args.force))
    return 0


if __name__ == "__main__":
    sys.exit(main())
