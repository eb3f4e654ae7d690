"""Load: wrk's closed loop for throughput and CPU per request, the open loop for latency.

Per scenario, every server that serves it gets a wrk warm-up; then the timed rounds are
interleaved, one wrk run per server per round, the servers' order rotating from round to
round, so a slow minute of the shared machine falls on all of them alike; medians count.
Around each timed run the server's CPU time (its process and descendants, /proc) is read:
the delta over the requests wrk completed is its CPU per request, the steadiest figure on a
busy machine. Then each server gets an open-loop run at half the ceiling's throughput.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
from dataclasses import dataclass, field
from typing import Any

from common import BENCH, ROOT, VENV_BIN
from harness import Config, Refused, body_file, fresh_transitions, say
from scenarios import Scenario
from servers import Server, headers, pinned

# Generous: what one core could possibly do, to size the first pool of fresh orders.
TRANSITION_GUESS_RPS = 3000
RETRIES = 2


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
    cpu_ms: float | None = None  # the server's CPU per request


@dataclass
class Measured:
    """One server's numbers for one scenario."""

    runs: list[WrkResult] = field(default_factory=list)
    rps: float = 0.0
    cpu_ms: float | None = None
    latency: dict[str, Any] = field(default_factory=dict)
    peak_rss_mb: float | None = None
    problems: list[str] = field(default_factory=list)


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
    bodies = body_file(scenario.name, server.name)
    env = {**os.environ, "BENCH_BODIES": str(bodies), "BENCH_THREADS": "1"}
    cpu_before = server.cpu_seconds()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT)
    cpu_after = server.cpu_seconds()
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
        cpu_ms=(
            round((cpu_after - cpu_before) * 1000 / int(total.group(1)), 3)
            if cpu_before is not None and cpu_after is not None and int(total.group(1))
            else None
        ),
    )


def open_loop(
    cfg: Config, server: Server, scenario: Scenario, rate: float, key: str | None
) -> dict[str, Any]:
    server.wait_idle()
    argv = [*pinned(cfg.load_cpus), str(VENV_BIN / "python"), str(BENCH / "loadgen.py")]
    argv += ["--url", server.url, "--rate", f"{rate:.1f}", "--duration", str(cfg.latency_duration)]
    argv += [
        "--connections",
        str(cfg.connections),
        "--bodies",
        str(body_file(scenario.name, server.name)),
    ]
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


def clean_run(
    cfg: Config, server: Server, scenario: Scenario, key: str | None, guess: float
) -> WrkResult:
    """A timed run, run again (up to RETRIES times) while answers fail: on a shared machine
    PostgreSQL can run out of connections for a moment, and a failed answer is a fast one that
    would flatter req/s. What still fails is reported in `problems`."""
    for _ in range(RETRIES):
        run = timed_run(cfg, server, scenario, cfg.duration, key, guess)
        if not (run.bad or run.non_2xx or run.socket_errors):
            return run
        say(f"  {scenario.name:18} {server.name:12} {run.bad + run.non_2xx} failed answers: again")
    return timed_run(cfg, server, scenario, cfg.duration, key, guess)


def serves(server: Server, scenario: Scenario) -> bool:
    """PostGraphile is the peer for reads: it has none of the service's writes."""
    return scenario.reads or server.name != "postgraphile"


def measure(cfg: Config, servers: list[Server], key: str | None) -> dict[str, dict[str, Measured]]:
    """Every scenario on every server that serves it, rounds interleaved; {scenario: {server:
    numbers}}. The open-loop load is half the ceiling's median throughput."""
    found: dict[str, dict[str, Measured]] = {}
    for scenario in cfg.scenarios:
        active = [server for server in servers if serves(server, scenario)]
        results = {server.name: Measured() for server in active}
        guesses = {}
        for server in active:
            server.reset_peak()
            warm = timed_run(cfg, server, scenario, cfg.warmup, key, TRANSITION_GUESS_RPS)
            guesses[server.name] = warm.rps
        for round_ in range(cfg.runs):
            shift = round_ % len(active)
            for server in active[shift:] + active[:shift]:
                run = clean_run(cfg, server, scenario, key, guesses[server.name])
                guesses[server.name] = max(guesses[server.name], run.rps)
                results[server.name].runs.append(run)
        for result in results.values():
            result.rps = statistics.median(run.rps for run in result.runs)
            cpu = [run.cpu_ms for run in result.runs if run.cpu_ms is not None]
            result.cpu_ms = round(statistics.median(cpu), 3) if cpu else None
        base = (
            results["ceiling"].rps if "ceiling" in results else max(r.rps for r in results.values())
        )
        rate = max(1.0, base / 2)
        for server in active:
            result = results[server.name]
            if scenario.kind == "transition":
                fresh_transitions(cfg, int(rate * cfg.latency_duration * 1.2) + 200)
            result.latency = open_loop(cfg, server, scenario, rate, key)
            result.peak_rss_mb = server.peak_rss_mb()
            result.problems = problems_of(result, scenario.kind)
            lat = result.latency
            say(
                f"  {scenario.name:18} {server.name:12} {result.rps:9.1f} req/s "
                f"{result.cpu_ms or 0:6.2f} ms CPU/req   at {rate:7.1f}/s: p50 "
                f"{lat['p50_ms']:7.2f} ms  p99 {lat['p99_ms']:7.2f} ms"
                + (f"   ! {'; '.join(result.problems)}" if result.problems else "")
            )
        found[scenario.name] = results
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
