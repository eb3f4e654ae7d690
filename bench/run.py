"""The side-by-side benchmark: order-graph as shipped, the hand-written ceiling, PostGraphile.

    .venv/bin/python bench/run.py            # 20,000 orders, 4 interleaved rounds (~12 min)
    .venv/bin/python bench/run.py --quick    # 2,000 orders, 1 short round (under 3 min)

Steps: seed the benchmark's own database unless it is seeded already (bench/seed.py); get an
API key (`order-graph clients create`), or run with ORDER_GRAPH_AUTH=off where that command
does not exist; start the three servers, each one process pinned to the server CPU (nothing
else is pinned: PostgreSQL is the machine's); check that order-graph answers every scenario
with the ceiling's `data` document byte for byte and makes the same writes, and that
PostGraphile returns the same orders and values for its equivalent queries (bench/peer.py),
and refuse to go on otherwise; count order-graph's SQL statements per read request; then per
scenario interleaved wrk rounds for req/s and CPU per request, an open-loop run at half the
ceiling's throughput for p50/p99 (bench/loadgen.py), and each server's peak RSS (bench/load.py).

Prints a table and writes bench/results/<date>.json (<date>-quick.json for --quick);
bench/report.py prints the README's table from it. See docs/bench.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

try:
    import asyncpg
except ImportError:  # started with a Python outside the project's virtualenv
    _venv = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "python"
    if _venv.exists() and Path(sys.prefix).resolve() != _venv.parents[1].resolve():
        os.execv(str(_venv), [str(_venv), *sys.argv])
    raise

import checks
import report
import seed
import servers
from common import CLIENT_NAME, DEFAULT_DATABASE, RESULTS, ROOT, VENV_BIN, sqlalchemy_url
from harness import Config, Refused, body_file, db, say, write_bodies
from load import measure
from scenarios import BY_NAME, SCENARIOS, create_bodies, read_bodies
from servers import Server, Unavailable, clean_env

WRK_MISSING = (
    "wrk is missing: install it (Debian/Ubuntu: apt-get install wrk, as `make bench` does as "
    "root or through sudo; macOS: brew install wrk) and run this again."
)


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


# --- Bodies ----------------------------------------------------------------------------------


def prepare_bodies(cfg: Config, info: seed.SeedInfo) -> None:
    rng = random.Random(5)
    for scenario in SCENARIOS:
        if scenario.reads:
            found = read_bodies(scenario, rng, info.last_order_id, info.stores, cfg.bodies)
            write_bodies(body_file(scenario.name), found)
    write_bodies(body_file("create"), create_bodies(rng, seed.WRITE_STORES, cfg.bodies))


# --- Reporting -------------------------------------------------------------------------------


def commit() -> str | None:
    """The commit measured, read when the run starts (a commit made meanwhile is not it)."""
    done = subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=ROOT
    )
    return done.stdout.strip() or None


def machine(cfg: Config, load_before: list[float], measured: str | None) -> dict[str, Any]:
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
    return {
        "cpu": first("/proc/cpuinfo", r"^model name\s*:\s*(.+)$") or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gb": round(int(memory) / 1024 / 1024, 1) if memory else None,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "postgresql": db(cfg.database, version),
        **(servers.versions() if cfg.peer else {"node": None, "postgraphile": None}),
        "wrk": (wrk_version.stdout + wrk_version.stderr).split("[")[0].strip(),
        "server_cpus": sorted(cfg.server_cpus) if cfg.server_cpus else None,
        "load_cpus": sorted(cfg.load_cpus) if cfg.load_cpus else None,
        "postgresql_pinned": False,
        "load_before": load_before,
        "load_after": _load(),
        "commit": measured,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _load() -> list[float]:
    return [round(n, 2) for n in os.getloadavg()] if hasattr(os, "getloadavg") else []


# --- Main ------------------------------------------------------------------------------------


def configure(argv: list[str] | None) -> Config:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small scale, short runs")
    parser.add_argument("--database", help=f"default {DEFAULT_DATABASE} (…_quick with --quick)")
    parser.add_argument("--orders", type=int, help="seeded orders (20,000; 2,000 with --quick)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--warmup", type=int, help="seconds of warm-up per scenario and server")
    parser.add_argument("--duration", type=int, help="seconds of each timed run")
    parser.add_argument("--runs", type=int, help="interleaved rounds per scenario (median)")
    parser.add_argument("--latency-duration", type=float, help="seconds of the open-loop run")
    parser.add_argument(
        "--scenarios", help="comma separated subset: " + ",".join(s.name for s in SCENARIOS)
    )
    parser.add_argument("--no-pin", action="store_true", help="run without taskset pinning")
    parser.add_argument("--no-peer", action="store_true", help="leave PostGraphile out")
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
        duration=args.duration or (2 if quick else 5),
        runs=args.runs or (1 if quick else 4),
        latency_duration=args.latency_duration or (1.0 if quick else 4.0),
        bodies=300 if quick else 1000,
        scenarios=[BY_NAME[name] for name in names],
        server_cpus={cpus[0]} if can_pin else None,
        load_cpus={cpus[-1]} if can_pin else None,
        peer=not args.no_peer,
    )


def _started(started: list[Server], server: Server) -> Server:
    server.start()
    started.append(server)
    return server


def _run(cfg: Config, info: seed.SeedInfo, key: str | None, t0: float) -> tuple[Any, Any]:
    """Starts the servers, checks them, measures them; stops them whatever happens."""
    started: list[Server] = []
    try:
        og = _started(started, servers.order_graph(cfg.database, key, cfg.server_cpus))
        ce = _started(started, servers.ceiling(cfg.database, key, cfg.server_cpus))
        pg = (
            _started(started, servers.postgraphile(cfg.database, key, cfg.server_cpus))
            if cfg.peer
            else None
        )
        say(f"checking that the servers give the same answers … ({time.monotonic() - t0:.0f} s)")
        problems = asyncio.run(checks.verify(cfg, og, ce, key))
        if pg is not None:
            problems += asyncio.run(checks.prepare_peer(cfg, pg, ce, key))
        if problems:
            raise Refused(
                "the servers answer differently; no numbers are reported:\n\n"
                + "\n\n".join(problems)
            )
        say(f"  same answers: {', '.join(s.name for s in cfg.scenarios)}")
        statements = checks.statement_counts(cfg, key)
        say(f"  order-graph's statements per request: {statements}")
        db(cfg.database, lambda conn: seed.reset(conn, info))
        say(f"measuring … ({time.monotonic() - t0:.0f} s)")
        return measure(cfg, started, key), statements
    finally:
        for server in reversed(started):
            server.stop()


def main(argv: list[str] | None = None) -> int:
    cfg = configure(argv)
    if not servers.have_wrk():
        print(WRK_MISSING, file=sys.stderr)
        return 2
    if not (VENV_BIN / "order-graph").exists():
        print("No .venv/bin/order-graph: run `make .venv/.installed-test` first.", file=sys.stderr)
        return 2
    missing = servers.peer_missing() if cfg.peer else None
    if missing:
        print(f"{missing}: run `make bench-peer-deps` (or pass --no-peer).", file=sys.stderr)
        return 2
    started = time.monotonic()
    load_before = _load()
    measured_commit = commit()
    if load_before and load_before[0] > 0.5:
        say(
            f"warning: the machine is busy (load average {load_before[0]:.1f}); other work on "
            "these CPUs makes req/s noisy (CPU per request much less so)"
        )
    servers_n = 3 if cfg.peer else 2
    per_run = cfg.warmup + cfg.runs * cfg.duration + cfg.latency_duration + 1.5
    estimate = servers_n * len(cfg.scenarios) * per_run + 40
    say(
        f"order-graph benchmark{' (quick)' if cfg.quick else ''}: {len(cfg.scenarios)} scenarios, "
        f"{cfg.runs} interleaved round(s) of {cfg.duration} s, about {estimate / 60:.0f} min"
    )
    try:
        info = asyncio.run(seed.ensure(cfg.database, cfg.orders))
        prepare_bodies(cfg, info)
        key = api_key(cfg)
        say(
            "authentication: an API key for client 'bench' (the ceiling and PostGraphile check it)"
            if key
            else "authentication: ORDER_GRAPH_AUTH=off (order-graph has no `clients` command)"
        )
        measured, statements = _run(cfg, info, key, started)
        db(cfg.database, lambda conn: seed.reset(conn, info))
    except (Refused, Unavailable) as refused:
        print(f"\nREFUSED: {refused}", file=sys.stderr)
        return 1

    rows = [
        report.entry(scenario, measured[scenario.name], statements.get(scenario.name))
        for scenario in cfg.scenarios
    ]
    config = {k: v for k, v in asdict(cfg).items() if k not in {"scenarios"}}
    config["server_cpus"] = sorted(cfg.server_cpus) if cfg.server_cpus else None
    config["load_cpus"] = sorted(cfg.load_cpus) if cfg.load_cpus else None
    config["authentication"] = "api-key" if key else "off"
    results = {
        "machine": machine(cfg, load_before, measured_commit),
        "config": config,
        "scenarios": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = datetime.now(UTC).strftime("%Y-%m-%d") + ("-quick" if cfg.quick else "")
    if len(cfg.scenarios) < len(SCENARIOS):
        name += "-partial"
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")

    say("\n" + report.console(rows))
    say(
        f"\nreq/s: wrk, {cfg.connections} connections, median of {cfg.runs} interleaved "
        "round(s); CPU ms/req: the server process's CPU over the run / requests; p99: open loop "
        "at half the ceiling's throughput. PG = PostGraphile (reads only)."
    )
    for row in rows:
        if row["problems"]:
            say(f"! {row['name']}: {'; '.join(row['problems'])}")
    say(f"\n{report.markdown(results)}")
    say(f"\nwrote {path.relative_to(ROOT)} in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
