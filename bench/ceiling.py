"""The ceiling: the benchmark's requests answered by hand with Starlette, asyncpg and orjson.

    .venv/bin/python bench/ceiling.py --database order_graph_bench --port 8100

It knows each scenario's document by its operation name (and checks the text is exactly that
document), runs the same SQL statements order-graph runs for it, on every request (nothing is
cached across requests), and writes the same `{"data": ...}` JSON, byte for byte. What it
skips is everything generic: parsing, validation, resolver dispatch, DataLoaders, the ORM. It is
what Python on this stack can do at best, the yardstick for order-graph's overhead.

Writes are the service's writes, in one transaction each: the order row (locked and
version-checked for a transition), its items and discounts, its status history entry, its
pending deadlines (the status locks, the old ones deleted, one per applicable rule inserted),
and its event, inserted unnumbered; after the commit one sequencer pass numbers it and sends the
NOTIFY (`order_graph_number_events`, as order-graph's events/sequencer.py does).

With BENCH_API_KEY set it demands `Authorization: Bearer <that key>`, as order-graph demands
a key (order-graph caches a key's lookup for seconds, so a comparison in memory is the same).
The actor is the X-Client-Id header, as order-graph's client name is "bench" in the benchmark.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import sys
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import orjson
from common import DEFAULT_DATABASE, decode_id, dsn, encode_id, exponent, money, order_no
from scenarios import BY_NAME, PAGE
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Json = dict[str, Any]
Handler = Callable[[asyncpg.Connection, Json, str], Awaitable[Json]]

ALLOWED = {
    "CREATED": ["PAID", "CANCELLED"],
    "PAID": ["ACCEPTED", "CANCELLED"],
    "ACCEPTED": ["FULFILLING", "CANCELLED"],
    "FULFILLING": ["COMPLETED", "CANCELLED"],
    "COMPLETED": [],
    "CANCELLED": [],
}

# --- Reading ---------------------------------------------------------------------------------

SUMMARY = (
    "id, version, store_id, main_status, sub_status, payable_total, currency, created_at, "
    "updated_at"
)
STANDARD = SUMMARY + ", channel, fulfillment_type, customer_id, items_total, discount_total"
FULL = (
    STANDARD + ", external_platform, external_order_id, delivery_fee, packaging_fee, "
    "refunded_total, remark, attributes"
)
COLUMNS = {"OrderSummary": SUMMARY, "OrderStandard": STANDARD, "OrderFull": FULL}

ITEMS = (
    "SELECT id, order_id, sku_id, name, quantity, unit_price, line_total{} FROM order_items "
    "WHERE order_id = ANY($1::bigint[]) ORDER BY order_id, position"
)
ITEMS_STANDARD = ITEMS.format("")
ITEMS_FULL = ITEMS.format(", attributes, cancelled_quantity")
DISCOUNTS = (
    "SELECT id, order_id, kind, code, description, amount, item_id, funded_by FROM order_discounts "
    "WHERE order_id = ANY($1::bigint[]) ORDER BY order_id, position"
)
HISTORY = (
    "SELECT order_id, from_main_status, to_main_status, from_sub_status, to_sub_status, reason, "
    "actor, occurred_at, version FROM status_changes WHERE order_id = ANY($1::bigint[]) "
    "ORDER BY order_id, id"
)
CHANGES = (
    "SELECT order_id, version, kind, lines, discounts, refund_amount, reason, actor, occurred_at "
    "FROM order_changes WHERE order_id = ANY($1::bigint[]) ORDER BY order_id, version"
)


def _summary(row: asyncpg.Record) -> Json:
    currency = row["currency"]
    return {
        "id": encode_id("Order", row["id"]),
        "orderNo": order_no(row["created_at"], row["id"]),
        "version": row["version"],
        "storeId": row["store_id"],
        "mainStatus": row["main_status"],
        "subStatus": row["sub_status"],
        "payableTotal": money(row["payable_total"], currency),
        "updatedAt": row["updated_at"].isoformat(),
    }


def _standard(row: asyncpg.Record, items: list[asyncpg.Record], full: bool) -> Json:
    currency = row["currency"]
    order = _summary(row)
    order["channel"] = row["channel"]
    order["fulfillmentType"] = row["fulfillment_type"]
    order["customerId"] = row["customer_id"]
    order["createdAt"] = row["created_at"].isoformat()
    order["itemsTotal"] = money(row["items_total"], currency)
    order["discountTotal"] = money(row["discount_total"], currency)
    lines = []
    for item in items:
        line = {
            "id": encode_id("OrderItem", item["id"]),
            "skuId": item["sku_id"],
            "name": item["name"],
            "quantity": item["quantity"],
            "unitPrice": money(item["unit_price"], currency),
            "lineTotal": money(item["line_total"], currency),
        }
        if full:
            line["attributes"] = item["attributes"]
            line["cancelledQuantity"] = item["cancelled_quantity"]
            line["activeQuantity"] = item["quantity"] - item["cancelled_quantity"]
        lines.append(line)
    order["items"] = lines
    return order


def _full(
    row: asyncpg.Record,
    items: list[asyncpg.Record],
    discounts: list[asyncpg.Record],
    history: list[asyncpg.Record],
    changes: list[asyncpg.Record],
) -> Json:
    currency = row["currency"]
    order = _standard(row, items, True)
    platform, external = row["external_platform"], row["external_order_id"]
    order["externalRef"] = (
        None
        if platform is None or external is None
        else {"platform": platform, "orderId": external}
    )
    order["currency"] = currency
    order["deliveryFee"] = money(row["delivery_fee"], currency)
    order["packagingFee"] = money(row["packaging_fee"], currency)
    order["refundedTotal"] = money(row["refunded_total"], currency)
    order["remark"] = row["remark"]
    order["attributes"] = row["attributes"]
    order["allowedTransitions"] = ALLOWED[row["main_status"]]
    order["discounts"] = [
        {
            "id": encode_id("OrderDiscount", d["id"]),
            "kind": d["kind"],
            "code": d["code"],
            "description": d["description"],
            "amount": money(d["amount"], currency),
            "itemId": None if d["item_id"] is None else encode_id("OrderItem", d["item_id"]),
            "fundedBy": d["funded_by"],
        }
        for d in discounts
    ]
    order["statusHistory"] = [
        {
            "fromMainStatus": h["from_main_status"],
            "toMainStatus": h["to_main_status"],
            "fromSubStatus": h["from_sub_status"],
            "toSubStatus": h["to_sub_status"],
            "reason": h["reason"],
            "actor": h["actor"],
            "occurredAt": h["occurred_at"].isoformat(),
            "version": h["version"],
        }
        for h in history
    ]
    order["changes"] = [_change(c, currency) for c in changes]
    return order


def _change(change: asyncpg.Record, currency: str) -> Json:
    """An item change as OrderFull selects it, from its stored row (lines and discounts are
    JSON in minor units)."""
    given = change["discounts"]
    refund = change["refund_amount"]
    return {
        "kind": change["kind"],
        "version": change["version"],
        "reason": change["reason"],
        "actor": change["actor"],
        "occurredAt": change["occurred_at"].isoformat(),
        "lines": [
            {
                "itemId": encode_id("OrderItem", line["item_id"]),
                "skuId": line["sku_id"],
                "name": line["name"],
                "unitPrice": money(line["unit_price"], currency),
                "quantityBefore": line["quantity_before"],
                "quantityAfter": line["quantity_after"],
                "cancelledQuantity": line["cancelled_quantity"],
            }
            for line in change["lines"]
        ],
        "discounts": None
        if given is None
        else [
            {
                "kind": d["kind"],
                "code": d["code"],
                "description": d["description"],
                "amount": money(d["amount"], currency),
                "itemId": None if d["item_id"] is None else encode_id("OrderItem", d["item_id"]),
                "fundedBy": d["funded_by"],
            }
            for d in given
        ],
        "refundAmount": None if refund is None else money(refund, currency),
    }


def _grouped(rows: list[asyncpg.Record]) -> defaultdict[int, list[asyncpg.Record]]:
    grouped: defaultdict[int, list[asyncpg.Record]] = defaultdict(list)
    for row in rows:
        grouped[row["order_id"]].append(row)
    return grouped


async def _orders(
    conn: asyncpg.Connection, tier: str, rows: Sequence[asyncpg.Record]
) -> list[Json]:
    """The orders in `rows` at `tier`, their lists loaded in one statement each."""
    if tier == "OrderSummary":
        return [_summary(row) for row in rows]
    ids = [row["id"] for row in rows]
    if tier == "OrderStandard":
        items = _grouped(await conn.fetch(ITEMS_STANDARD, ids))
        return [_standard(row, items[row["id"]], False) for row in rows]
    items = _grouped(await conn.fetch(ITEMS_FULL, ids))
    discounts = _grouped(await conn.fetch(DISCOUNTS, ids))
    history = _grouped(await conn.fetch(HISTORY, ids))
    changes = _grouped(await conn.fetch(CHANGES, ids))
    return [
        _full(row, items[n], discounts[n], history[n], changes[n])
        for row in rows
        for n in (row["id"],)
    ]


def by_id(tier: str) -> Handler:
    statement = f"SELECT {COLUMNS[tier]} FROM orders WHERE id = $1"

    async def handle(conn: asyncpg.Connection, variables: Json, actor: str) -> Json:
        row = await conn.fetchrow(statement, decode_id("Order", variables["id"]))
        return {"order": None if row is None else (await _orders(conn, tier, [row]))[0]}

    return handle


def page(tier: str) -> Handler:
    first = f"SELECT {COLUMNS[tier]} FROM orders WHERE store_id = $1 ORDER BY id DESC LIMIT $2"
    after = (
        f"SELECT {COLUMNS[tier]} FROM orders WHERE store_id = $1 AND id < $3 "
        "ORDER BY id DESC LIMIT $2"
    )

    async def handle(conn: asyncpg.Connection, variables: Json, actor: str) -> Json:
        cursor = variables.get("after")
        if cursor is None:
            rows = await conn.fetch(first, variables["store"], PAGE + 1)
        else:
            rows = await conn.fetch(
                after, variables["store"], PAGE + 1, decode_id("OrderCursor", cursor)
            )
        shown = rows[:PAGE]
        nodes = await _orders(conn, tier, shown)
        edges = [
            {"cursor": encode_id("OrderCursor", row["id"]), "node": node}
            for row, node in zip(shown, nodes, strict=True)
        ]
        info = {
            "hasNextPage": len(rows) > PAGE,
            "endCursor": edges[-1]["cursor"] if edges else None,
        }
        return {"orders": {"edges": edges, "pageInfo": info}}

    return handle


def by_ids(tier: str) -> Handler:
    statement = f"SELECT {COLUMNS[tier]} FROM orders WHERE id = ANY($1::bigint[])"

    async def handle(conn: asyncpg.Connection, variables: Json, actor: str) -> Json:
        wanted = [decode_id("Order", value) for value in variables["ids"]]
        rows = await conn.fetch(statement, wanted)
        built = dict(zip((row["id"] for row in rows), await _orders(conn, tier, rows), strict=True))
        return {"ordersByIds": [built.get(number) for number in wanted]}

    return handle


# --- Writing ---------------------------------------------------------------------------------

INSERT_EVENT = (
    "INSERT INTO order_events (type, order_id, store_id, version, main_status, "
    "sub_status, previous_main_status, previous_sub_status, actor, occurred_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
)
NUMBER_EVENTS = "SELECT order_graph_number_events(5000)"
INSERT_CHANGE = (
    "INSERT INTO status_changes (order_id, from_main_status, to_main_status, from_sub_status, "
    "to_sub_status, reason, actor, occurred_at, version, store_id) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
)


def _lock_key(status: str) -> int:
    """The status's advisory lock key, as order-graph's storage/deadlines.py derives it."""
    digest = hashlib.sha256(f"order-graph-deadlines:{status}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# An order entering a status: a shared lock per timed status it leaves or enters (against a
# concurrent rule definition), its old pending deadlines gone, and one per rule that applies
# in its new status: the service's deadline writes, as two statements.
LEAVE = (
    "WITH gone AS (DELETE FROM order_deadlines WHERE order_id = $1) "
    "SELECT pg_advisory_xact_lock_shared($2), pg_advisory_xact_lock_shared($3)"
)
ENTER_LOCK = "SELECT pg_advisory_xact_lock_shared($1)"
ENTER = (
    "INSERT INTO order_deadlines (order_id, rule_id, store_id, due_at) "
    "SELECT $1, id, $2, $3::timestamptz + make_interval(secs => after_seconds) FROM deadline_rules "
    "WHERE main_status = $4 AND (channel IS NULL OR channel = $5) "
    "AND (fulfillment_type IS NULL OR fulfillment_type = $6)"
)


async def _append_event(conn: asyncpg.Connection, *values: Any) -> None:
    """The event, unnumbered: `_number_events` numbers it after the commit."""
    await conn.execute(INSERT_EVENT, *values)


async def _number_events(conn: asyncpg.Connection) -> None:
    """One sequencer pass after the commit (positions and the NOTIFY), as order-graph answers
    a write once its event is numbered."""
    await conn.execute(NUMBER_EVENTS)


def _error(code: str, message: str) -> Json:
    return {"code": code, "message": message}


LOCK = f"SELECT {SUMMARY}, channel, fulfillment_type FROM orders WHERE id = $1 FOR UPDATE"
ACCEPT = (
    "UPDATE orders SET main_status = $3, sub_status = NULL, version = $4, updated_at = $5 "
    "WHERE id = $1 AND version = $2"
)


async def transition(conn: asyncpg.Connection, variables: Json, actor: str) -> Json:
    order_id = decode_id("Order", variables["id"])
    target = "ACCEPTED"
    async with conn.transaction():
        row = await conn.fetchrow(LOCK, order_id)
        if row is None:
            return {
                "transitionOrder": {
                    "order": None,
                    "errors": [_error("NOT_FOUND", "No such order.")],
                }
            }
        status = row["main_status"]
        if target not in ALLOWED[status]:
            message = f"An order in {status} cannot move to {target}."
            errors = [_error("INVALID_TRANSITION", message)]
            return {"transitionOrder": {"order": None, "errors": errors}}
        now = datetime.now(UTC)
        version = row["version"] + 1
        await conn.execute(ACCEPT, order_id, row["version"], target, version, now)
        store, sub = row["store_id"], row["sub_status"]
        await conn.execute(
            INSERT_CHANGE, order_id, status, target, sub, None, None, actor, now, version, store
        )
        keys = sorted({_lock_key(status), _lock_key(target)})
        await conn.execute(LEAVE, order_id, *keys)
        channel, fulfillment = row["channel"], row["fulfillment_type"]
        await conn.execute(ENTER, order_id, store, now, target, channel, fulfillment)
        await _append_event(
            conn, "STATUS_CHANGED", order_id, store, version, target, None, status, sub, actor, now
        )
    await _number_events(conn)
    order = _summary(row)
    order.update(version=version, mainStatus=target, subStatus=None, updatedAt=now.isoformat())
    return {"transitionOrder": {"order": order, "errors": []}}


INSERT_ORDER = (
    "INSERT INTO orders (version, store_id, channel, fulfillment_type, currency, main_status, "
    "sub_status, items_total, discount_total, delivery_fee, packaging_fee, payable_total, "
    "external_platform, external_order_id, customer_id, remark, attributes, created_by, "
    "created_at, updated_at) VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, NULL, "
    "$12, $13, $14, $15, $16, $16) RETURNING id"
)
INSERT_ITEMS = (
    "INSERT INTO order_items (order_id, store_id, position, sku_id, name, quantity, unit_price, "
    "line_total, attributes) SELECT $1, $9, * FROM unnest($2::int[], $3::text[], $4::text[], "
    "$5::int[], $6::bigint[], $7::bigint[], $8::jsonb[]) RETURNING id, position"
)
INSERT_DISCOUNTS = (
    "INSERT INTO order_discounts (order_id, store_id, position, kind, code, description, amount, "
    "item_id, funded_by) SELECT $1, $9, * FROM unnest($2::int[], $3::text[], $4::text[], "
    "$5::text[], $6::bigint[], $7::bigint[], $8::text[])"
)


def _minor(amount: str | None, currency: str) -> int:
    """Exact minor units of an amount ("28.50" CNY -> 2850), as order-graph's Decimal does."""
    if amount is None:
        return 0
    scaled = Decimal(amount).scaleb(exponent(currency))
    if scaled != int(scaled) or scaled < 0:
        raise ValueError(f"not an amount: {amount!r}")
    return int(scaled)


async def create(conn: asyncpg.Connection, variables: Json, actor: str) -> Json:
    data = variables["input"]
    currency = data["currency"]
    status = data.get("initialStatus") or "CREATED"
    items = data["items"]
    prices = [_minor(item["unitPrice"], currency) for item in items]
    lines = [price * item["quantity"] for price, item in zip(prices, items, strict=True)]
    discounts = data.get("discounts") or []
    amounts = [_minor(d["amount"], currency) for d in discounts]
    items_total, discount_total = sum(lines), sum(amounts)
    delivery, packaging = (
        _minor(data.get("deliveryFee"), currency),
        _minor(data.get("packagingFee"), currency),
    )
    payable = items_total + delivery + packaging - discount_total
    now = datetime.now(UTC)
    store = data["storeId"]
    sub = data.get("subStatus")
    async with conn.transaction():
        order_id = await conn.fetchval(
            INSERT_ORDER,
            store,
            data["channel"],
            data["fulfillmentType"],
            currency,
            status,
            sub,
            items_total,
            discount_total,
            delivery,
            packaging,
            payable,
            data.get("customerId"),
            data.get("remark"),
            data.get("attributes") or {},
            actor,
            now,
        )
        returned = await conn.fetch(
            INSERT_ITEMS,
            order_id,
            list(range(len(items))),
            [item["skuId"] for item in items],
            [item["name"] for item in items],
            [item["quantity"] for item in items],
            prices,
            lines,
            [item.get("attributes") or {} for item in items],
            store,
        )
        item_ids = [row["id"] for row in sorted(returned, key=lambda row: row["position"])]
        if discounts:
            await conn.execute(
                INSERT_DISCOUNTS,
                order_id,
                list(range(len(discounts))),
                [d["kind"] for d in discounts],
                [d.get("code") for d in discounts],
                [d.get("description") for d in discounts],
                amounts,
                [
                    None if d.get("itemIndex") is None else item_ids[d["itemIndex"]]
                    for d in discounts
                ],
                [d.get("fundedBy") for d in discounts],
                store,
            )
        await conn.execute(
            INSERT_CHANGE, order_id, None, status, None, sub, None, actor, now, 1, store
        )
        if ALLOWED[status]:  # a final status has no deadlines
            await conn.execute(ENTER_LOCK, _lock_key(status))
            channel, fulfillment = data["channel"], data["fulfillmentType"]
            await conn.execute(ENTER, order_id, store, now, status, channel, fulfillment)
        await _append_event(
            conn, "CREATED", order_id, store, 1, status, sub, None, None, actor, now
        )
    await _number_events(conn)
    stamp = now.isoformat()
    order = {
        "id": encode_id("Order", order_id),
        "orderNo": order_no(now, order_id),
        "version": 1,
        "storeId": store,
        "mainStatus": status,
        "subStatus": sub,
        "payableTotal": money(payable, currency),
        "updatedAt": stamp,
        "channel": data["channel"],
        "fulfillmentType": data["fulfillmentType"],
        "customerId": data.get("customerId"),
        "createdAt": stamp,
        "itemsTotal": money(items_total, currency),
        "discountTotal": money(discount_total, currency),
        "items": [
            {
                "id": encode_id("OrderItem", item_id),
                "skuId": item["skuId"],
                "name": item["name"],
                "quantity": item["quantity"],
                "unitPrice": money(price, currency),
                "lineTotal": money(line, currency),
            }
            for item_id, item, price, line in zip(item_ids, items, prices, lines, strict=True)
        ],
    }
    return {"createOrder": {"created": True, "order": order, "errors": []}}


# --- The endpoint ----------------------------------------------------------------------------

HANDLERS: dict[str, tuple[str, Handler]] = {}
for _scenario, _handler in [
    ("order_summary", by_id("OrderSummary")),
    ("order_standard", by_id("OrderStandard")),
    ("order_full", by_id("OrderFull")),
    ("orders50_summary", page("OrderSummary")),
    ("orders50_full", page("OrderFull")),
    ("by_ids20_standard", by_ids("OrderStandard")),
    ("transition", transition),
    ("create", create),
]:
    HANDLERS[BY_NAME[_scenario].operation] = (BY_NAME[_scenario].query, _handler)


def _problem(message: str, status: int) -> Response:
    body = orjson.dumps({"errors": [{"message": message}]})
    return Response(body, status_code=status, media_type="application/json")


async def _init(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name,
            encoder=lambda value: orjson.dumps(value).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )


def create_app(database_url: str, api_key: str | None, pool_size: int = 20) -> Starlette:
    pool: asyncpg.Pool | None = None
    expected = None if api_key is None else f"Bearer {api_key}".encode()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal pool
        pool = await asyncpg.create_pool(database_url, min_size=2, max_size=pool_size, init=_init)
        try:
            yield
        finally:
            await pool.close()

    async def graphql(request: Request) -> Response:
        if expected is not None:
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return _problem("This API key is not valid (unknown or revoked).", 401)
        try:
            body = orjson.loads(await request.body())
            query, handler = HANDLERS[body["operationName"]]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return _problem("Not one of the benchmark's operations.", 400)
        if body.get("query") != query:
            return _problem("The document differs from the benchmark's.", 400)
        actor = (request.headers.get("x-client-id") or "anonymous")[:128]
        assert pool is not None
        async with pool.acquire() as conn:
            data = await handler(conn, body.get("variables") or {}, actor)
        return Response(orjson.dumps({"data": data}), media_type="application/json")

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    routes = [Route("/graphql", graphql, methods=["POST"]), Route("/healthz", healthz)]
    return Starlette(routes=routes, lifespan=lifespan)


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument(
        "--pool-size", type=int, default=20, help="order-graph's pool: 10 plus 10 overflow"
    )
    args = parser.parse_args(argv)
    app = create_app(dsn(args.database), os.environ.get("BENCH_API_KEY"), args.pool_size)
    # One process with uvicorn's uvloop and httptools, as `order-graph serve` runs; no access
    # log (order-graph writes none either).
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
