"""The servers must agree before any number counts.

order-graph must give the ceiling's `data` document byte for byte, and make the same writes;
PostGraphile, whose schema is its own, must return the same orders with the same values
(bench/peer.py). Also: order-graph's SQL statements per request (bench/statements.py).
"""

from __future__ import annotations

import base64
import json
import subprocess
from typing import Any

import asyncpg
import httpx
import orjson
import peer
import seed
from common import BENCH, CLIENT_NAME, ROOT, VENV_BIN, WORK, decode_id, dsn
from harness import Config, Refused, body_file, write_bodies
from scenarios import BY_NAME, Scenario, transition_bodies
from servers import Server, clean_env, headers

VERIFY_SAMPLES = 25
WRITE_SAMPLES = 4


def _first_difference(a: bytes, b: bytes) -> str:
    at = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
    lo = max(0, at - 120)
    return (
        f"first difference at byte {at}:\n"
        f"  order-graph: …{a[lo : at + 120]!r}\n  ceiling:     …{b[lo : at + 120]!r}"
    )


def same_data(og: httpx.Response, ce: httpx.Response) -> str | None:
    """None when both carry the same `data` document byte for byte, else what differs.

    order-graph may add a top-level `extensions` member after `data` (its query cost): the
    data document itself must be identical, and neither may carry `errors`.
    """
    if og.status_code != 200 or ce.status_code != 200:
        return (
            f"status {og.status_code} (order-graph) vs {ce.status_code} (ceiling): {og.text[:300]}"
        )
    a, b = og.content, ce.content
    if not b.startswith(b'{"data":') or not b.endswith(b"}"):
        return f"the ceiling's answer is not a data document: {b[:300]!r}"
    document = b[:-1]
    rest = a[len(document) :] if a.startswith(document) else None
    if rest is None or not (rest == b"}" or rest.startswith(b',"extensions":')):
        return _first_difference(a, b)
    if "errors" in orjson.loads(a):
        return f"order-graph answered with errors: {a[:300]!r}"
    return None


VOLATILE = {"id", "orderNo", "createdAt", "updatedAt"}


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "<varies>" if k in VOLATILE else _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


# Per table, the columns that differ between two equal writes: ids, times, log positions.
_VARYING = {
    "orders": {"id", "created_at", "updated_at"},
    "order_items": {"id", "order_id"},
    "order_discounts": {"id", "order_id", "item_id"},
    "status_changes": {"id", "order_id", "occurred_at"},
    "order_events": {"id", "position", "order_id", "occurred_at"},
    "order_deadlines": {"order_id", "due_at"},
}
_ORDERING = {
    "orders": "id",
    "order_events": "position",
    "status_changes": "id",
    "order_deadlines": "rule_id",
}


async def _rows(conn: asyncpg.Connection, order_id: int) -> dict[str, list[dict[str, Any]]]:
    """The rows a write left for one order, without the columns that differ between orders."""
    found = {}
    for table, varying in _VARYING.items():
        key = "id" if table == "orders" else "order_id"
        order = _ORDERING.get(table, "position")
        rows = await conn.fetch(
            f"SELECT * FROM {table} WHERE {key} = $1 ORDER BY {order}", order_id
        )
        found[table] = [{k: v for k, v in dict(row).items() if k not in varying} for row in rows]
    return found


async def _positions_contiguous(conn: asyncpg.Connection) -> str | None:
    row = await conn.fetchrow(
        "SELECT count(*) AS n, min(position) AS lo, max(position) AS hi, "
        "(SELECT position FROM event_counter WHERE id = 1) AS counter FROM order_events"
    )
    if row["n"] and (row["hi"] - row["lo"] + 1 != row["n"] or row["counter"] != row["hi"]):
        return f"event positions are not contiguous up to the counter: {dict(row)}"
    return None


async def verify(cfg: Config, og: Server, ce: Server, key: str | None) -> list[str]:
    """Sends each scenario to order-graph and the ceiling and compares; returns the problems."""
    problems: list[str] = []
    sent = {**headers(key), "Content-Type": "application/json"}
    async with httpx.AsyncClient(timeout=30, headers=sent) as http:

        async def both(body: bytes) -> tuple[httpx.Response, httpx.Response]:
            return await http.post(og.url, content=body), await http.post(ce.url, content=body)

        for scenario in cfg.scenarios:
            if not scenario.reads:
                continue
            bodies = body_file(scenario.name).read_bytes().splitlines()[:VERIFY_SAMPLES]
            for body in bodies:
                difference = same_data(*await both(body))
                if difference:
                    problems.append(f"{scenario.name}: {difference}\n  request: {body[:400]!r}")
                    break

        conn = await asyncpg.connect(dsn(cfg.database))
        try:
            for scenario in cfg.scenarios:
                # Both servers make the same change to equal orders, a few times over.
                pairs: list[tuple[bytes, bytes]] = []
                if scenario.kind == "transition":
                    for _ in range(WRITE_SAMPLES):
                        ids = await seed.add_fresh_paid_orders(conn, 2, CLIENT_NAME, identical=True)
                        a, b = transition_bodies(ids)
                        pairs.append((a, b))
                    field_name, readback = "transitionOrder", BY_NAME["order_summary"]
                elif scenario.kind == "create":
                    bodies = body_file("create").read_bytes().splitlines()[:WRITE_SAMPLES]
                    pairs = [(body, body) for body in bodies]
                    field_name, readback = "createOrder", BY_NAME["order_standard"]
                for body_og, body_ce in pairs:
                    reply_og = await http.post(og.url, content=body_og)
                    reply_ce = await http.post(ce.url, content=body_ce)
                    problem = await _compare_write(
                        http, conn, og, reply_og, reply_ce, field_name, readback
                    )
                    if problem:
                        problems.append(f"{scenario.name}: {problem}")
                        break
            gap = await _positions_contiguous(conn)
            if gap:
                problems.append(gap)
        finally:
            await conn.close()
    return problems


async def _compare_write(
    http: httpx.AsyncClient,
    conn: asyncpg.Connection,
    og: Server,
    reply_og: httpx.Response,
    reply_ce: httpx.Response,
    field_name: str,
    readback: Scenario,
) -> str | None:
    """Both servers did the same write to equal orders: equal answers (but for ids and
    timestamps), the ceiling's order reads back from order-graph exactly as the ceiling wrote
    it, and both left the same rows."""
    for who, reply in (("order-graph", reply_og), ("ceiling", reply_ce)):
        if reply.status_code != 200 or b'"errors":[{' in reply.content:
            return f"{who} answered {reply.status_code}: {reply.text[:400]}"
    data_og = orjson.loads(reply_og.content)["data"]
    data_ce = orjson.loads(reply_ce.content)["data"]
    if orjson.dumps(_masked(data_og)) != orjson.dumps(_masked(data_ce)):
        return "answers differ beyond ids and timestamps:\n" + _first_difference(
            orjson.dumps(data_og), orjson.dumps(data_ce)
        )
    order_ce = data_ce[field_name]["order"]
    back = await http.post(og.url, content=readback.body({"id": order_ce["id"]}))
    order_back = orjson.loads(back.content)["data"]["order"]
    if orjson.dumps(order_back) != orjson.dumps(order_ce):
        return "the ceiling's answer differs from what order-graph reads back:\n" + (
            _first_difference(orjson.dumps(order_back), orjson.dumps(order_ce))
        )
    rows_og = await _rows(conn, decode_id("Order", data_og[field_name]["order"]["id"]))
    rows_ce = await _rows(conn, decode_id("Order", order_ce["id"]))
    for table in rows_og:
        if rows_og[table] != rows_ce[table]:
            return (
                f"{table} rows differ:\n  order-graph: {rows_og[table]}\n"
                f"  ceiling:     {rows_ce[table]}"
            )
    return None


def statement_counts(cfg: Config, key: str | None) -> dict[str, int]:
    env = clean_env()
    if key is None:
        env["ORDER_GRAPH_AUTH"] = "off"
    else:
        env["BENCH_API_KEY"] = key
    argv = [str(VENV_BIN / "python"), str(BENCH / "statements.py")]
    argv += ["--database", cfg.database, "--bodies-dir", str(WORK)]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        # Only a figure of the report: the service may no longer run its SQL through SQLAlchemy.
        print(f"warning: counting statements failed:\n{done.stderr[-1500:]}", flush=True)
        return {}
    counts: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return counts


# --- PostGraphile ----------------------------------------------------------------------------


async def _cursor_digest(http: httpx.AsyncClient, server: Server) -> str:
    """The digest PostGraphile puts in its ROW_ID_DESC cursors, so bodies can page from any id."""
    query = "{ allOrders(orderBy: ROW_ID_DESC, first: 1) { edges { cursor } } }"
    answer = (await http.post(server.url, content=orjson.dumps({"query": query}))).json()
    try:
        edge = answer["data"]["allOrders"]["edges"][0]
        return str(json.loads(base64.b64decode(edge["cursor"]))[0])
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise Refused(f"PostGraphile gave no cursor ({error}): {str(answer)[:400]}") from error


async def prepare_peer(cfg: Config, pg: Server, ce: Server, key: str | None) -> list[str]:
    """Writes PostGraphile's request bodies, one for each of the ceiling's, and checks that
    both answer the first few with the same orders and values; returns the problems found."""
    problems: list[str] = []
    sent = {**headers(key), "Content-Type": "application/json"}
    async with httpx.AsyncClient(timeout=30, headers=sent) as http:
        digest = await _cursor_digest(http, pg)
        for scenario in cfg.scenarios:
            if not scenario.reads:
                continue
            bodies = body_file(scenario.name).read_bytes().splitlines()
            mine = [peer.body(scenario, body, digest) for body in bodies]
            write_bodies(body_file(scenario.name, pg.name), mine)
            for body, equivalent in list(zip(bodies, mine, strict=True))[:VERIFY_SAMPLES]:
                theirs = await http.post(ce.url, content=body)
                answer = await http.post(pg.url, content=equivalent)
                if answer.status_code != 200:
                    problems.append(
                        f"{scenario.name}: PostGraphile answered {answer.status_code}: "
                        f"{answer.text[:300]}"
                    )
                    break
                difference = peer.same_values(scenario, answer.content, theirs.content)
                if difference:
                    problems.append(f"{scenario.name}: {difference}\n  request: {body[:300]!r}")
                    break
    return problems
