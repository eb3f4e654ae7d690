"""Prometheus metrics. With several worker processes (`serve --workers N`) every process writes
to PROMETHEUS_MULTIPROC_DIR and `/metrics` adds them up (prometheus-client multiprocess mode)."""

from __future__ import annotations

import functools
import hmac
import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response

REQUESTS = Counter(
    "order_graph_graphql_requests_total",
    "GraphQL operations served, by operation name, type and outcome.",
    ["operation", "type", "outcome"],
)
LATENCY = Histogram(
    "order_graph_graphql_request_seconds",
    "Time to serve a GraphQL operation.",
    ["operation", "type"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
ERRORS = Counter("order_graph_errors_total", "Errors returned to callers, by code.", ["code"])
COMPILED = Counter(
    "order_graph_compiled_queries_total",
    "Queries and mutations (createOrder, transitionOrder, setSubStatus, updateOrder) run "
    "through a compiled plan, by outcome: answered; refused (a read or the variables raised a "
    "caller's error, which the executor reports); unavailable (the database); failed (a bug of "
    "the compiled path: the executor answered instead; for a mutation, an INTERNAL error).",
    ["outcome"],
)
TRANSITIONS = Counter(
    "order_graph_status_transitions_total",
    "Main-status transitions committed.",
    ["from_status", "to_status"],
)
WEBSOCKETS = Gauge(
    "order_graph_websocket_connections", "Open websocket connections.", multiprocess_mode="livesum"
)
SUBSCRIPTIONS = Gauge(
    "order_graph_subscriptions", "Active event subscriptions.", multiprocess_mode="livesum"
)
SUBSCRIBER_WAKEUPS = Counter(
    "order_graph_subscriber_wakeups_total",
    "Times a subscriber was woken for new events (only by events of the stores it follows).",
)
SUBSCRIPTION_EXECUTIONS = Counter(
    "order_graph_subscription_executions_total",
    "Events executed against a subscription's selection (once per event for all subscribers "
    "that share a document, its variables and what their callers may see).",
)
SUBSCRIPTION_DELIVERIES = Counter(
    "order_graph_subscription_deliveries_total", "Event messages delivered to subscribers."
)
EVENT_LAG = Gauge(
    "order_graph_event_lag",
    "Newest event position minus the oldest position a subscriber is still to receive.",
    multiprocess_mode="livemax",
)
EVENTS_POSITIONED = Counter(
    "order_graph_events_positioned_total",
    "Events given their log position by this process's sequencer passes.",
)
SEQUENCER_PENDING = Gauge(
    "order_graph_event_sequencer_pending",
    "Committed events still waiting for a log position (sampled once a second).",
    multiprocess_mode="livemax",
)
SEQUENCER_LAG = Gauge(
    "order_graph_event_sequencer_lag_seconds",
    "Age of the oldest committed event still waiting for a log position, counted from its "
    "change (so a long transaction shows here with the time it stayed open); 0 when none.",
    multiprocess_mode="livemax",
)
POOL_IN_USE = Gauge(
    "order_graph_db_pool_in_use",
    "Database connections checked out of the pool.",
    multiprocess_mode="livesum",
)

_MAX_OPERATION_NAMES = 200
_operation_names: set[str] = set()


@functools.lru_cache(maxsize=4096)
def served(operation: str, kind: str, outcome: str) -> tuple[Any, Any]:
    """The request counter's and the latency histogram's series for these labels, looked up
    once: `labels()` takes a lock and builds its key on every call. `operation` is bounded by
    `operation_label`."""
    return REQUESTS.labels(operation, kind, outcome), LATENCY.labels(operation, kind)


# The compiled path's outcomes, as COMPILED describes them.
COMPILED_OUTCOMES = {
    outcome: COMPILED.labels(outcome)
    for outcome in ("answered", "refused", "unavailable", "failed")
}


def operation_label(name: str | None) -> str:
    """Operation names come from callers: bound their number so no client can flood the series."""
    if not name:
        return "anonymous"
    name = name[:64]
    if name in _operation_names:
        return name
    if len(_operation_names) >= _MAX_OPERATION_NAMES:
        return "other"
    _operation_names.add(name)
    return name


def exposition() -> bytes:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest()


async def metrics_endpoint(request: Request, token: str | None) -> Response:
    """With a token configured, only a scraper that sends it (`Authorization: Bearer <token>`)
    sees the metrics, which name the operations of every client."""
    if token is not None:
        scheme, _, sent = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(sent.encode(), token.encode()):
            return Response("Send the metrics token.\n", 401, media_type="text/plain")
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)
