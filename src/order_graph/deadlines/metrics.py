"""The runner's Prometheus metrics, served at `/metrics` by `serve` and on
ORDER_GRAPH_DEADLINE_METRICS_PORT by `order-graph deadlines`."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

FIRED = Counter(
    "order_graph_deadlines_fired_total", "Deadlines that fired and changed an order.", ["rule"]
)
LATENESS = Histogram(
    "order_graph_deadline_lateness_seconds",
    "How long after its due time a deadline fired.",
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600),
)
ALIVE = Gauge(
    "order_graph_deadline_runner_alive",
    "1 while this process runs a deadline runner.",
    multiprocess_mode="livemax",
)
LAST_SWEEP = Gauge(
    "order_graph_deadline_runner_last_sweep_timestamp_seconds",
    "When a runner of this process last finished a sweep (Unix time): alert when it is stale.",
    multiprocess_mode="livemax",
)
