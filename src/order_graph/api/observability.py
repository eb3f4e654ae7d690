"""Per-operation metrics, and the fields of the request's log line."""

from __future__ import annotations

import time
from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from order_graph.ops.metrics import ERRORS, LATENCY, REQUESTS, operation_label


class ObserveOperations(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context
        try:
            kind = context.operation_type.value
        except RuntimeError:  # no operation could be picked from the document
            kind = "unknown"
        name = operation_label(context.operation_name)
        result = context.result
        errors = (result.errors or []) if result is not None else []
        outcome = "error" if errors else "ok"
        for error in errors:
            ERRORS.labels((error.extensions or {}).get("code", "GRAPHQL")).inc()
        REQUESTS.labels(name, kind, outcome).inc()
        LATENCY.labels(name, kind).observe(time.perf_counter() - started)
        request = getattr(context.context, "request", None)
        if request is not None and request.scope["type"] == "http":
            principal = getattr(context.context, "principal", None)
            request.state.log = {
                "operation": context.operation_name,
                "client": principal.name if principal is not None else None,
                "outcome": outcome,
            }
