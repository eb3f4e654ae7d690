"""The benchmark's results: the JSON entries, the printed table, and the README's table.

    .venv/bin/python bench/report.py                       # the newest full run, as markdown
    .venv/bin/python bench/report.py bench/results/2026-12-01-quick.json

The targets are issue 12's: every read at least PostGraphile's throughput with no more CPU
per request than PostGraphile; single-order reads at least 0.6 of the ceiling, list and batch
reads 0.7; the transition and create 0.5 of the ceiling's hand-written asyncpg transaction.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from common import RESULTS
from load import Measured
from scenarios import Scenario

TARGETS = {
    "order_summary": 0.6,
    "order_standard": 0.6,
    "order_full": 0.6,
    "orders50_summary": 0.7,
    "orders50_full": 0.7,
    "by_ids20_standard": 0.7,
    "transition": 0.5,
    "create": 0.5,
}
TITLES = {
    "order_summary": "one order, OrderSummary",
    "order_standard": "one order, OrderStandard",
    "order_full": "one order, OrderFull",
    "orders50_summary": "50 orders of a store, OrderSummary",
    "orders50_full": "50 orders of a store, OrderFull",
    "by_ids20_standard": "20 orders by id, OrderStandard",
    "transition": "transition PAID→ACCEPTED",
    "create": "create (5 items, a coupon)",
}
DASH = "\u2013"  # an en dash: no value
SERVERS = {"order-graph": "order_graph", "ceiling": "ceiling", "postgraphile": "postgraphile"}


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def entry(scenario: Scenario, measured: dict[str, Measured], statements: int | None) -> Any:
    """One scenario's numbers: per server, and order-graph's ratios to the others."""
    og, ce, pg = (measured.get(name) for name in SERVERS)
    assert og is not None
    assert ce is not None
    row: dict[str, Any] = {"name": scenario.name, "title": TITLES.get(scenario.name)}
    for name, prefix in SERVERS.items():
        found = measured.get(name)
        row[f"{prefix}_rps"] = None if found is None else round(found.rps, 1)
        row[f"{prefix}_cpu_ms"] = None if found is None else found.cpu_ms
    row["ratio"] = _ratio(og.rps, ce.rps)
    row["ratio_postgraphile"] = None if pg is None else _ratio(og.rps, pg.rps)
    row["cpu_ratio_postgraphile"] = None if pg is None else _ratio(og.cpu_ms, pg.cpu_ms)
    target = TARGETS.get(scenario.name, 0.6)
    beats_peer = pg is None or (
        og.rps >= pg.rps
        and og.cpu_ms is not None
        and pg.cpu_ms is not None
        and og.cpu_ms <= pg.cpu_ms
    )
    row["target_ratio"] = target
    row["meets_target"] = row["ratio"] is not None and row["ratio"] >= target and beats_peer
    row["statements"] = statements
    for name, prefix in SERVERS.items():
        found = measured.get(name)
        if found is None:
            continue
        row[f"{prefix}_p50_ms"] = found.latency.get("p50_ms")
        row[f"{prefix}_p99_ms"] = found.latency.get("p99_ms")
        row[f"{prefix}_peak_rss_mb"] = found.peak_rss_mb
        row[f"{prefix}_runs"] = [
            {"rps": round(run.rps, 1), "cpu_ms": run.cpu_ms} for run in found.runs
        ]
        row[f"{prefix}_open_loop"] = found.latency
    row["latency_load_rps"] = ce.latency.get("target_rps")
    row["problems"] = [
        f"{name}: {problem}"
        for name in SERVERS
        for problem in (measured[name].problems if name in measured else [])
    ]
    return row


def _num(value: Any, digits: int) -> str:
    return DASH if value is None else f"{value:,.{digits}f}"


def console(rows: list[dict[str, Any]]) -> str:
    """The table bench/run.py prints."""
    head = (
        f"{'scenario':18} {'og req/s':>9} {'ceiling':>9} {'PG':>9} {'/ceil':>6} {'/PG':>6}"
        f"  {'CPU ms/req og / ceiling / PG':>28}  {'p99 ms og / ceiling / PG':>26}"
        f"  {'stmts':>5}  {'target':>9}"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        cpu = " / ".join(_num(row[f"{p}_cpu_ms"], 2) for p in SERVERS.values())
        p99 = " / ".join(_num(row.get(f"{p}_p99_ms"), 1) for p in SERVERS.values())
        verdict = "ok" if row["meets_target"] else "MISS"
        lines.append(
            f"{row['name']:18} {_num(row['order_graph_rps'], 0):>9} "
            f"{_num(row['ceiling_rps'], 0):>9} {_num(row['postgraphile_rps'], 0):>9} "
            f"{_num(row['ratio'], 2):>6} {_num(row['ratio_postgraphile'], 2):>6}  {cpu:>28}  "
            f"{p99:>26}  {_num(row['statements'], 0):>5}  "
            f"{'>=' + format(row['target_ratio'], '.1f') + ' ' + verdict:>9}"
        )
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    """The README's performance table, with the machine and the commit it was measured on."""
    lines = [
        "| scenario | order-graph req/s | / ceiling | / PostGraphile "
        "| CPU ms per request: order-graph / ceiling / PostGraphile |",
        "|---|---|---|---|---|",
    ]
    for row in report["scenarios"]:
        cpu = " / ".join(_num(row.get(f"{p}_cpu_ms"), 2) for p in SERVERS.values())
        lines.append(
            f"| {row.get('title') or row['name']} | {_num(row['order_graph_rps'], 0)} "
            f"| {_num(row['ratio'], 2)} | {_num(row.get('ratio_postgraphile'), 2)} | {cpu} |"
        )
    m, c = report["machine"], report["config"]
    before, after = m.get("load_before") or [], m.get("load_after") or []
    lines += [
        "",
        f"Measured {m['date'][:10]} at commit `{m['commit']}` on {m['cpu']} ({m['cores']} cores; "
        f"load average {_num(before[0] if before else None, 2)} before, "
        f"{_num(after[0] if after else None, 2)} after): one process per server pinned to a "
        f"core, wrk on the other, {c['connections']} connections, {c['orders']:,} orders, "
        f"auth {'on' if c['authentication'] == 'api-key' else 'off'}, {c['runs']} interleaved "
        f"round(s) of {c['duration']} s, medians; PostGraphile {m.get('postgraphile') or DASH} "
        f"on Node {m.get('node') or DASH}. `make bench` writes it; `bench/report.py` prints it.",
    ]
    return "\n".join(lines)


def newest() -> Path | None:
    full = sorted(p for p in RESULTS.glob("*.json") if p.stem[-1].isdigit())
    return full[-1] if full else None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else newest()
    if path is None:
        print(f"No full results in {RESULTS}: run `make bench` first.", file=sys.stderr)
        return 2
    print(markdown(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
