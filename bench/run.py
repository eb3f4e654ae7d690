"""The side-by-side benchmark: order-graph as shipped against the hand-written ceiling.

    .venv/bin/python bench/run.py            # 20,000 orders, 3 timed runs each (about 10 min)
    .venv/bin/python bench/run.py --quick    # 2,000 orders, 1 short run each (under 2 min)

Steps: seed the benchmark database unless it is seeded already (bench/seed.py); get an API
key (`order-graph clients create`), or run with ORDER_GRAPH_AUTH=off where that command does
not exist; check that both servers answer every scenario with the same `data` document, byte
for byte, and refuse to go on otherwise; count order-graph's SQL statements per read request;
then, one server at a time, pinned to CPU 0 with PostgreSQL and the load generators on the
others: per scenario a wrk warm-up, timed wrk runs (median), and an open-loop run at half the
ceiling's throughput for p50/p99 (bench/loadgen.py), and the server's peak RSS.

Prints a table and writes bench/results/<date>.json (<date>-quick.json for --quick).
See docs/bench.md for what each number means.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

try:
    import asyncpg
    import httpx
    import orjson
except ImportError:  # started with a Python outside the project's virtualenv
    _venv = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "python"
    if _venv.exists() and Path(sys.prefix).resolve() != _venv.parents[1].resolve():
        os.execv(str(_venv), [str(_venv), *sys.argv])
    raise

import seed
from common import (
    BENCH,
    CLIENT_NAME,
    DEFAULT_DATABASE,
    RESULTS,
    ROOT,
    VENV_BIN,
    WORK,
    decode_id,
    dsn,
    sqlalchemy_url,
)
from scenarios import (
    BY_NAME,
    SCENARIOS,
    Scenario,
    create_bodies,
    read_bodies,
    transition_bodies,
)

T = TypeVar("T")

# Generous: what one core could possibly do, to size the first pool of fresh orders.
TRANSITION_GUESS_RPS = 3000
TARGETS = {"orders50_full": 0.5, "transition": 0.5, "create": 0.5}
DEFAULT_TARGET = 0.6
P99_FACTOR = 2.0
VERIFY_SAMPLES = 25
WRITE_SAMPLES = 4


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
    pin_postgres: bool


@dataclass
class WrkResult:
    rps: float
    requests: int
    non_2xx: int
    socket_errors: int
    wrapped: int
    bad: int
    p50_ms: float | None
    p99_ms: float | None


@dataclass
class Measured:
    """One server's numbers for one scenario."""

    runs: list[WrkResult] = field(default_factory=list)
    rps: float = 0.0
    latency: dict[str, Any] = field(default_factory=dict)
    peak_rss_mb: float | None = None
    problems: list[str] = field(default_factory=list)


class Refused(Exception):
    """The two servers disagree, or a precondition is missing: nothing is reported."""


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(cpus: set[int] | None) -> list[str]:
    if cpus is None:
        return []
    return ["taskset", "-c", ",".join(str(c) for c in sorted(cpus))]


# --- Servers ---------------------------------------------------------------------------------


class Server:
    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], port: int, cpus: set[int] | None
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.port = port
        self.cpus = cpus
        self.url = f"http://127.0.0.1:{port}/graphql"
        self.log = WORK / "logs" / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [*pinned(self.cpus), *self.argv],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log.read_text(errors="replace")[-3000:]
                raise Refused(f"{self.name} exited with {self.process.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise Refused(f"{self.name} did not answer /healthz within 60 s (see {self.log})")

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def cpu_seconds(self) -> float | None:
        if self.process is None:
            return None
        try:
            stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        except OSError:
            return None
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Waits until the server stops working off requests whose clients left.

        wrk and the open-loop generator hang up with requests in flight (up to one per
        connection); the server still completes them, and that would eat into the next run.
        """
        if self.cpu_seconds() is None:
            time.sleep(0.5)
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            before = self.cpu_seconds() or 0.0
            time.sleep(0.2)
            if (self.cpu_seconds() or 0.0) - before < 0.02:
                return

    def reset_peak(self) -> bool:
        """Resets the peak RSS (VmHWM) so it covers the next scenario only (Linux >= 4.0)."""
        if self.process is None:
            return False
        try:
            Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")
            return True
        except OSError:
            return False

    def peak_rss_mb(self) -> float | None:
        if self.process is None:
            return None
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
        return round(int(found.group(1)) / 1024, 1) if found else None


def clean_env() -> dict[str, str]:
    """This environment without any ORDER_GRAPH_* setting of the caller's own shell."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("ORDER_GRAPH_", "BENCH_"))}


def order_graph(cfg: Config, key: str | None, port: int, pin: bool) -> Server:
    env = clean_env()
    env["ORDER_GRAPH_DATABASE_URL"] = sqlalchemy_url(cfg.database)
    env["ORDER_GRAPH_HOST"] = "127.0.0.1"
    env["ORDER_GRAPH_PORT"] = str(port)
    if key is None:
        env["ORDER_GRAPH_AUTH"] = "off"
    argv = [str(VENV_BIN / "order-graph"), "serve"]
    return Server("order-graph", argv, env, port, cfg.server_cpus if pin else None)


def ceiling(cfg: Config, key: str | None, port: int, pin: bool) -> Server:
    env = clean_env()
    if key is not None:
        env["BENCH_API_KEY"] = key
    argv = [
        str(VENV_BIN / "python"),
        str(BENCH / "ceiling.py"),
        "--database",
        cfg.database,
        "--port",
        str(port),
    ]
    return Server("ceiling", argv, env, port, cfg.server_cpus if pin else None)


def headers(key: str | None) -> dict[str, str]:
    found = {"X-Client-Id": CLIENT_NAME}
    if key is not None:
        found["Authorization"] = f"Bearer {key}"
    return found


# --- Authentication --------------------------------------------------------------------------


def api_key(cfg: Config) -> str | None:
    """A fresh admin key for the client "bench", or None where order-graph has no clients."""
    binary = str(VENV_BIN / "order-graph")
    env = clean_env()
    env["ORDER_GRAPH_DATABASE_URL"] = sqlalchemy_url(cfg.database)
    shown = subprocess.run([binary, "--help"], capture_output=True, text=True, env=env)
    if not re.search(r"\bclients\b", shown.stdout):
        return None
    create = [binary, "clients", "create", "--name", CLIENT_NAME, "--scopes", "admin", "--json"]
    for attempt in range(2):
        done = subprocess.run(create, capture_output=True, text=True, env=env, cwd=ROOT)
        if done.returncode == 0:
            for line in reversed(done.stdout.splitlines()):
                try:
                    answer = json.loads(line)
                except ValueError:
                    continue
                for name in ("key", "api_key", "apiKey", "token", "secret"):
                    if isinstance(answer, dict) and isinstance(answer.get(name), str):
                        return str(answer[name])
            raise Refused(f"`order-graph clients create --json` printed no key:\n{done.stdout}")
        if attempt == 0:
            # Keys are shown once: a client left by an earlier run is replaced.
            async def forget(conn: asyncpg.Connection) -> None:
                await conn.execute("DELETE FROM clients WHERE name = $1", CLIENT_NAME)

            db(cfg.database, forget)
    raise Refused(f"`order-graph clients create` failed:\n{done.stdout}{done.stderr}")


# --- PostgreSQL's CPUs -----------------------------------------------------------------------


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            found.append(int(entry.name))
    return found


class PostgresPinning:
    """Moves the local PostgreSQL server (and every backend it forks) onto `cpus`, and back."""

    def __init__(self, database: str, cpus: set[int]) -> None:
        self.cpus = cpus
        self.saved: dict[int, set[int]] = {}
        self.postmaster: int | None = None

        async def backend(conn: asyncpg.Connection) -> int:
            return int(await conn.fetchval("SELECT pg_backend_pid()"))

        try:
            stat = Path(f"/proc/{db(database, backend)}/stat").read_text()
            self.postmaster = int(stat.rsplit(")", 1)[1].split()[1])
        except OSError:
            self.postmaster = None  # not on this machine (or not visible): leave it be

    def pin(self) -> bool:
        if self.postmaster is None:
            return False
        try:
            for pid in [self.postmaster, *_children(self.postmaster)]:
                self.saved[pid] = os.sched_getaffinity(pid)
                os.sched_setaffinity(pid, self.cpus)
        except OSError:
            self.restore()
            return False
        return True

    def restore(self) -> None:
        if self.postmaster is None or not self.saved:
            return
        original = self.saved.get(self.postmaster, set(range(os.cpu_count() or 1)))
        for pid in [self.postmaster, *_children(self.postmaster)]:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(pid, self.saved.get(pid, original))
        self.saved.clear()


# --- Bodies ----------------------------------------------------------------------------------


def body_file(name: str) -> Path:
    return WORK / f"{name}.jsonl"


def write_bodies(path: Path, bodies: Sequence[bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\n".join(bodies) + b"\n")
    return path


def prepare_bodies(cfg: Config, info: seed.SeedInfo) -> None:
    import random

    rng = random.Random(5)
    for scenario in SCENARIOS:
        if scenario.reads:
            found = read_bodies(scenario, rng, info.last_order_id, info.stores, cfg.bodies)
            write_bodies(body_file(scenario.name), found)
    write_bodies(body_file("create"), create_bodies(rng, seed.WRITE_STORES, cfg.bodies))


def fresh_transitions(cfg: Config, count: int) -> Path:
    """Adds `count` fresh PAID orders and writes one transition body for each."""

    async def add(conn: asyncpg.Connection) -> list[int]:
        return await seed.add_fresh_paid_orders(conn, count, CLIENT_NAME)

    ids = db(cfg.database, add)
    return write_bodies(body_file("transition"), transition_bodies(ids))


# --- Checking both servers agree -------------------------------------------------------------


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
    "order_events": {"position", "order_id", "occurred_at"},
}
_ORDERING = {"orders": "id", "order_events": "position", "status_changes": "id"}


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
    """Sends each scenario to both servers and compares; returns the problems found."""
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
        raise Refused(f"counting statements failed:\n{done.stdout}{done.stderr[-3000:]}")
    counts: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return counts


# --- Load ------------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _latency_ms(text: str, percent: str) -> float | None:
    found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    return round(float(found.group(1)) * _UNITS[found.group(2)], 3) if found else None


def wrk(
    cfg: Config, server: Server, scenario: Scenario, seconds: int, key: str | None
) -> WrkResult:
    server.wait_idle()
    argv = [*pinned(cfg.load_cpus), "wrk", "-t1", f"-c{cfg.connections}", f"-d{seconds}s"]
    argv += ["--latency", "--timeout", "30s", "-s", f"bench/wrk/{scenario.name}.lua"]
    for name, value in headers(key).items():
        argv += ["-H", f"{name}: {value}"]
    argv.append(server.url)
    env = {**os.environ, "BENCH_BODIES": str(body_file(scenario.name)), "BENCH_THREADS": "1"}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT)
    out = done.stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    if done.returncode != 0 or rate is None or total is None:
        raise Refused(f"wrk failed ({done.returncode}):\n{out}\n{done.stderr}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    marker = re.search(r"BENCH wrapped=(\d+) bad=(\d+)", out)
    return WrkResult(
        rps=float(rate.group(1)),
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
        wrapped=int(marker.group(1)) if marker else 0,
        bad=int(marker.group(2)) if marker else 0,
        p50_ms=_latency_ms(out, "50"),
        p99_ms=_latency_ms(out, "99"),
    )


def open_loop(
    cfg: Config, server: Server, scenario: Scenario, rate: float, key: str | None
) -> dict[str, Any]:
    server.wait_idle()
    argv = [*pinned(cfg.load_cpus), str(VENV_BIN / "python"), str(BENCH / "loadgen.py")]
    argv += ["--url", server.url, "--rate", f"{rate:.1f}", "--duration", str(cfg.latency_duration)]
    argv += ["--connections", str(cfg.connections), "--bodies", str(body_file(scenario.name))]
    if scenario.kind == "transition":
        argv.append("--once")
    for name, value in headers(key).items():
        argv += ["-H", f"{name}: {value}"]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise Refused(f"the load generator failed:\n{done.stdout}{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def timed_run(
    cfg: Config, server: Server, scenario: Scenario, seconds: int, key: str | None, guess: float
) -> WrkResult:
    """One wrk run; a transition run gets fresh orders first, and more when it ran out."""
    if scenario.kind != "transition":
        return wrk(cfg, server, scenario, seconds, key)
    count = int(guess * seconds * 1.3) + 200
    for _ in range(3):
        fresh_transitions(cfg, count)
        result = wrk(cfg, server, scenario, seconds, key)
        if result.wrapped == 0:
            return result
        count *= 2
    return result


def measure(
    cfg: Config, server: Server, key: str | None, ceiling_rps: dict[str, float] | None
) -> dict[str, Measured]:
    """All scenarios against one server; the load for p50/p99 is half the ceiling's rps."""
    found: dict[str, Measured] = {}
    server.start()
    try:
        for scenario in cfg.scenarios:
            result = Measured()
            server.reset_peak()
            warm = timed_run(cfg, server, scenario, cfg.warmup, key, TRANSITION_GUESS_RPS)
            guess = warm.rps
            for _ in range(cfg.runs):
                run = timed_run(cfg, server, scenario, cfg.duration, key, guess)
                guess = max(guess, run.rps)
                result.runs.append(run)
            result.rps = statistics.median(run.rps for run in result.runs)
            base = result.rps if ceiling_rps is None else ceiling_rps[scenario.name]
            rate = max(1.0, base / 2)
            if scenario.kind == "transition":
                fresh_transitions(cfg, int(rate * cfg.latency_duration * 1.2) + 200)
            result.latency = open_loop(cfg, server, scenario, rate, key)
            result.peak_rss_mb = server.peak_rss_mb()
            result.problems = problems_of(result, scenario.kind)
            found[scenario.name] = result
            lat = result.latency
            say(
                f"  {server.name:11} {scenario.name:18} {result.rps:9.1f} req/s"
                f"   at {rate:7.1f}/s: p50 {lat['p50_ms']:7.2f} ms  p99 {lat['p99_ms']:7.2f} ms"
                + (f"   ! {'; '.join(result.problems)}" if result.problems else "")
            )
    finally:
        server.stop()
    return found


def problems_of(result: Measured, kind: str) -> list[str]:
    problems = []
    for run in result.runs:
        if run.non_2xx or run.bad or run.socket_errors:
            problems.append(
                f"wrk: {run.non_2xx} non-2xx, {run.bad} bad answers, {run.socket_errors} "
                "socket errors"
            )
        if run.wrapped and kind == "transition":
            problems.append("wrk ran out of fresh orders")
    lat = result.latency
    if lat.get("non_200") or lat.get("bad") or lat.get("wrapped"):
        problems.append(
            f"open loop: {lat['non_200']} non-200, {lat['bad']} bad answers, "
            f"{lat['wrapped']} fresh orders reused"
        )
    return problems


# --- Reporting -------------------------------------------------------------------------------


def machine(cfg: Config, pinned_postgres: bool) -> dict[str, Any]:
    def first(path: str, pattern: str) -> str | None:
        try:
            found = re.search(pattern, Path(path).read_text(), re.M)
        except OSError:
            return None
        return found.group(1).strip() if found else None

    async def version(conn: asyncpg.Connection) -> str:
        return str(await conn.fetchval("SHOW server_version"))

    memory = first("/proc/meminfo", r"^MemTotal:\s+(\d+) kB")
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=ROOT
    )
    return {
        "cpu": first("/proc/cpuinfo", r"^model name\s*:\s*(.+)$") or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gb": round(int(memory) / 1024 / 1024, 1) if memory else None,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "postgresql": db(cfg.database, version),
        "wrk": (wrk_version.stdout + wrk_version.stderr).split("[")[0].strip(),
        "server_cpus": sorted(cfg.server_cpus) if cfg.server_cpus else None,
        "load_cpus": sorted(cfg.load_cpus) if cfg.load_cpus else None,
        "postgresql_pinned": pinned_postgres,
        "commit": commit.stdout.strip() or None,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def target_of(scenario: Scenario) -> float:
    return TARGETS.get(scenario.name, DEFAULT_TARGET)


def entries(
    cfg: Config,
    og: dict[str, Measured],
    ce: dict[str, Measured],
    statements: dict[str, int],
) -> list[dict[str, Any]]:
    rows = []
    for scenario in cfg.scenarios:
        a, b = og[scenario.name], ce[scenario.name]
        ratio = round(a.rps / b.rps, 3) if b.rps else None
        p99, ce_p99 = a.latency["p99_ms"], b.latency["p99_ms"]
        rows.append(
            {
                "name": scenario.name,
                "order_graph_rps": round(a.rps, 1),
                "ceiling_rps": round(b.rps, 1),
                "ratio": ratio,
                "target_ratio": target_of(scenario),
                "p50_ms": a.latency["p50_ms"],
                "p99_ms": p99,
                "ceiling_p50_ms": b.latency["p50_ms"],
                "ceiling_p99_ms": ce_p99,
                "p99_vs_ceiling": round(p99 / ce_p99, 2) if ce_p99 else None,
                "latency_load_rps": b.latency["target_rps"],
                "latency_saturated": bool(a.latency.get("saturated")),
                "latency_achieved_rps": a.latency["achieved_rps"],
                "statements": statements.get(scenario.name),
                "peak_rss_mb": a.peak_rss_mb,
                "ceiling_peak_rss_mb": b.peak_rss_mb,
                "meets_target": (
                    ratio is not None
                    and ratio >= target_of(scenario)
                    and (not ce_p99 or p99 <= P99_FACTOR * ce_p99)
                ),
                "order_graph_runs": [round(r.rps, 1) for r in a.runs],
                "ceiling_runs": [round(r.rps, 1) for r in b.runs],
                "order_graph_open_loop": a.latency,
                "ceiling_open_loop": b.latency,
                "problems": [f"order-graph: {p}" for p in a.problems]
                + [f"ceiling: {p}" for p in b.problems],
            }
        )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """The printed summary; a `*` marks latencies of a server that could not keep up."""

    def num(value: Any, digits: int) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    def pair(a: Any, b: Any, digits: int, saturated: bool = False) -> str:
        return f"{num(a, digits)}{'*' if saturated else ''} / {num(b, digits)}"

    columns = [
        ("scenario", "", 18, "<"),
        ("order-graph", "req/s", 11, ">"),
        ("ceiling", "req/s", 9, ">"),
        ("ratio", "", 6, ">"),
        ("target", "", 9, ">"),
        ("p50 ms", "og / ceiling", 17, ">"),
        ("p99 ms", "og / ceiling", 19, ">"),
        ("stmts", "", 5, ">"),
        ("peak RSS MB", "og / ceiling", 13, ">"),
    ]

    def line(cells: list[str]) -> str:
        return "  ".join(
            f"{cell:{align}{width}}"
            for cell, (_, _, width, align) in zip(cells, columns, strict=True)
        )

    lines = [line([c[0] for c in columns]), line([c[1] for c in columns])]
    lines.append("-" * len(lines[0]))
    for row in rows:
        saturated = row["latency_saturated"]
        verdict = "ok" if row["meets_target"] else "MISS"
        lines.append(
            line(
                [
                    row["name"],
                    num(row["order_graph_rps"], 1),
                    num(row["ceiling_rps"], 1),
                    num(row["ratio"], 2),
                    f">={row['target_ratio']:.1f} {verdict}",
                    pair(row["p50_ms"], row["ceiling_p50_ms"], 2, saturated),
                    pair(row["p99_ms"], row["ceiling_p99_ms"], 2, saturated),
                    num(row["statements"], 0),
                    pair(row["peak_rss_mb"], row["ceiling_peak_rss_mb"], 0),
                ]
            )
        )
    return "\n".join(lines)


# --- Main ------------------------------------------------------------------------------------


def configure(argv: list[str] | None) -> Config:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small scale, short runs")
    parser.add_argument("--database", help=f"default {DEFAULT_DATABASE} (…_quick with --quick)")
    parser.add_argument("--orders", type=int, help="seeded orders (20,000; 2,000 with --quick)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--warmup", type=int, help="seconds of warm-up per scenario")
    parser.add_argument("--duration", type=int, help="seconds of each timed run")
    parser.add_argument("--runs", type=int, help="timed runs per scenario (median)")
    parser.add_argument("--latency-duration", type=float, help="seconds of the open-loop run")
    parser.add_argument(
        "--scenarios", help="comma separated subset: " + ",".join(s.name for s in SCENARIOS)
    )
    parser.add_argument("--no-pin", action="store_true", help="run without taskset pinning")
    parser.add_argument(
        "--no-pin-postgres",
        action="store_true",
        help="leave the PostgreSQL server's CPU affinity alone",
    )
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    names = [s.name for s in SCENARIOS]
    if args.scenarios:
        wanted = [name.strip() for name in args.scenarios.split(",") if name.strip()]
        unknown = [name for name in wanted if name not in BY_NAME]
        if unknown:
            parser.error(f"unknown scenarios {unknown}; known: {names}")
        names = wanted
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    can_pin = len(cpus) >= 2 and not args.no_pin and shutil.which("taskset") is not None
    return Config(
        quick=quick,
        database=args.database or (DEFAULT_DATABASE + ("_quick" if quick else "")),
        orders=args.orders or (2_000 if quick else 20_000),
        connections=args.connections,
        warmup=args.warmup or (1 if quick else 3),
        duration=args.duration or (2 if quick else 6),
        runs=args.runs or (1 if quick else 3),
        latency_duration=args.latency_duration or (1.0 if quick else 6.0),
        bodies=300 if quick else 1000,
        scenarios=[BY_NAME[name] for name in names],
        server_cpus={cpus[0]} if can_pin else None,
        load_cpus=set(cpus[1:]) if can_pin else None,
        pin_postgres=can_pin and not args.no_pin_postgres,
    )


def main(argv: list[str] | None = None) -> int:
    cfg = configure(argv)
    if shutil.which("wrk") is None:
        print(
            "wrk is not installed. On Debian or Ubuntu:\n"
            "    sudo apt-get update && sudo apt-get install -y wrk\n"
            "(macOS: brew install wrk). Then run this again.",
            file=sys.stderr,
        )
        return 2
    if not (VENV_BIN / "order-graph").exists():
        print("No .venv/bin/order-graph: run `make install` first.", file=sys.stderr)
        return 2
    started = time.monotonic()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load > 0.5:
        say(
            f"warning: the machine is busy (load average {load:.1f}); other work on these CPUs "
            "makes the numbers noisy"
        )
    per_scenario = cfg.warmup + cfg.runs * cfg.duration + cfg.latency_duration + 2
    estimate = 2 * len(cfg.scenarios) * per_scenario + 20
    say(
        f"order-graph benchmark{' (quick)' if cfg.quick else ''}: {len(cfg.scenarios)} scenarios, "
        f"{cfg.runs} x {cfg.duration} s runs each, about {estimate / 60:.0f} min"
    )
    try:
        info = asyncio.run(seed.ensure(cfg.database, cfg.orders))
        prepare_bodies(cfg, info)
        key = api_key(cfg)
        say(
            "authentication: an API key for client 'bench'"
            if key
            else "authentication: ORDER_GRAPH_AUTH=off (order-graph has no `clients` command)"
        )

        say("checking that both servers give identical answers …")
        og_check = order_graph(cfg, key, free_port(), pin=False)
        ce_check = ceiling(cfg, key, free_port(), pin=False)
        og_check.start()
        try:
            ce_check.start()
            try:
                problems = asyncio.run(verify(cfg, og_check, ce_check, key))
            finally:
                ce_check.stop()
        finally:
            og_check.stop()
        if problems:
            raise Refused(
                "order-graph and the ceiling answer differently; no numbers are reported:\n\n"
                + "\n\n".join(problems)
            )
        say(
            f"  identical: {', '.join(s.name for s in cfg.scenarios)} "
            f"({time.monotonic() - started:.0f} s)"
        )
        statements = statement_counts(cfg, key)
        say(f"  statements per request: {statements}")

        postgres = PostgresPinning(cfg.database, cfg.load_cpus) if cfg.pin_postgres else None
        pinned_pg = postgres.pin() if postgres and cfg.load_cpus else False
        try:
            db(cfg.database, lambda conn: seed.reset(conn, info))
            say(f"ceiling: ({time.monotonic() - started:.0f} s)")
            ce = measure(cfg, ceiling(cfg, key, free_port(), pin=True), key, None)
            db(cfg.database, lambda conn: seed.reset(conn, info))
            say(f"order-graph: ({time.monotonic() - started:.0f} s)")
            ceiling_rps = {name: m.rps for name, m in ce.items()}
            og = measure(cfg, order_graph(cfg, key, free_port(), pin=True), key, ceiling_rps)
        finally:
            if postgres is not None:
                postgres.restore()
        db(cfg.database, lambda conn: seed.reset(conn, info))
    except Refused as refused:
        print(f"\nREFUSED: {refused}", file=sys.stderr)
        return 1

    rows = entries(cfg, og, ce, statements)
    config = {k: v for k, v in asdict(cfg).items() if k not in {"scenarios"}}
    config["server_cpus"] = sorted(cfg.server_cpus) if cfg.server_cpus else None
    config["load_cpus"] = sorted(cfg.load_cpus) if cfg.load_cpus else None
    config["authentication"] = "api-key" if key else "off"
    config["load_average_at_start"] = round(load, 2)
    report = {"machine": machine(cfg, pinned_pg), "config": config, "scenarios": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = datetime.now(UTC).strftime("%Y-%m-%d") + ("-quick" if cfg.quick else "")
    if len(cfg.scenarios) < len(SCENARIOS):
        name += "-partial"
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")

    say("\n" + table(rows))
    say(
        f"\nratio = order-graph / ceiling throughput (wrk, {cfg.connections} connections, median "
        f"of {cfg.runs}); p50/p99 open loop at half the ceiling's throughput; target: ratio as "
        f"shown and p99 <= {P99_FACTOR:g}x the ceiling's."
    )
    if any(row["latency_saturated"] for row in rows):
        say(
            "* order-graph could not sustain half the ceiling's throughput: requests queued, "
            "so these latencies grow with the run's length."
        )
    troubled = [row for row in rows if row["problems"]]
    for row in troubled:
        say(f"! {row['name']}: {'; '.join(row['problems'])}")
    say(f"wrote {path.relative_to(ROOT)} in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
