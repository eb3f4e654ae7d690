"""Optional OpenTelemetry tracing: a span per GraphQL operation and per SQL statement.

Off unless an OTLP endpoint is configured (`ORDER_GRAPH_OTEL_ENDPOINT`); then it needs the
`otel` extra (`pip install 'order-graph[otel]'`). Without an endpoint nothing from
`opentelemetry` is imported.

Spans go over OTLP/HTTP (protobuf), to `<endpoint>/v1/traces` when the endpoint has no path
(`http://otel-collector:4318`). The standard `OTEL_*` variables still apply: sampling
(`OTEL_TRACES_SAMPLER`), exporter headers and timeout, `OTEL_SERVICE_NAME`.
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from graphql import GraphQLResolveInfo
    from opentelemetry.trace import TracerProvider
    from sqlalchemy.engine import Engine
    from sqlalchemy.ext.asyncio import AsyncEngine
    from strawberry.extensions import SchemaExtension

log = logging.getLogger("order_graph.tracing")

MISSING_EXTRA = (
    "ORDER_GRAPH_OTEL_ENDPOINT is set but OpenTelemetry is not installed: "
    "pip install 'order-graph[otel]'"
)


class _State:
    """What this process has set up; module-level so that a second call reuses it."""

    provider: ClassVar[TracerProvider | None] = None
    endpoint: ClassVar[str | None] = None
    extension: ClassVar[type[SchemaExtension] | None] = None
    engines: ClassVar[weakref.WeakSet[Engine]] = weakref.WeakSet()


def configure_tracer_provider(provider: TracerProvider) -> None:
    """Use `provider` instead of an OTLP exporter (tests: an in-memory exporter).

    Call it before `tracing_extensions`: an engine traced earlier keeps its earlier provider.
    """
    _State.provider = provider
    _State.endpoint = None
    _State.extension = None


def tracing_extensions(
    endpoint: str | None, engine: AsyncEngine, service_name: str = "order-graph"
) -> list[type[SchemaExtension]]:
    """The schema extensions that trace GraphQL operations, after tracing `engine`'s SQL.

    `[]` when `endpoint` is None or empty. Safe to call more than once: the tracer provider
    is made once per process and an engine is instrumented once.
    """
    if not endpoint:
        return []
    try:
        provider = _provider(endpoint, service_name)
        _trace_engine(engine.sync_engine, provider)
        return [_extension(provider)]
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != "opentelemetry":
            raise
        raise RuntimeError(MISSING_EXTRA) from exc


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL: a bare `http://host:4318` gets the standard `/v1/traces`."""
    if urlsplit(endpoint).path in ("", "/"):
        return endpoint.rstrip("/") + "/v1/traces"
    return endpoint


def _provider(endpoint: str, service_name: str) -> TracerProvider:
    if _State.provider is not None:
        if _State.endpoint is not None and _State.endpoint != endpoint:
            log.warning("tracing already exports to %s; ignoring %s", _State.endpoint, endpoint)
        return _State.provider

    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # OTEL_SERVICE_NAME, when set, names the service; Resource.create reads it.
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
    provider = SdkTracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url(endpoint))))
    # Global too, so that instrumentation added later (HTTP clients, ...) joins the same traces;
    # an agent such as `opentelemetry-instrument` may have installed one already.
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(provider)
    _State.provider, _State.endpoint = provider, endpoint
    log.info("tracing to %s as %s", traces_url(endpoint), attributes.get(SERVICE_NAME))
    return provider


def _trace_engine(engine: Engine, provider: TracerProvider) -> None:
    """A span per statement on this engine, child of whatever span is current (the resolver).

    `EngineTracer` is what `SQLAlchemyInstrumentor().instrument(engine=...)` attaches. The
    instrumentor itself is avoided: it is a process-wide singleton that patches
    `create_engine`/`create_async_engine`/`Engine.connect`, instruments only the first engine
    it is given, and refuses SQLAlchemy 2.1 (it declares `sqlalchemy < 2.1`) unless told to
    skip that check.
    """
    if engine in _State.engines:
        return
    from opentelemetry import metrics
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.instrumentation.sqlalchemy.version import __version__

    tracer = provider.get_tracer("opentelemetry.instrumentation.sqlalchemy", __version__)
    usage = metrics.get_meter("opentelemetry.instrumentation.sqlalchemy").create_up_down_counter(
        "db.client.connections.usage", unit="connections"
    )
    EngineTracer(tracer, engine, usage)  # type: ignore[no-untyped-call]
    _State.engines.add(engine)


def scalar_arguments(args: dict[str, Any], info: GraphQLResolveInfo[Any]) -> dict[str, Any]:
    """Resolver arguments worth a span attribute: ids, cursors, counts. Input objects and
    filters, which carry customer data, stay out of the traces, and so do absent arguments."""
    return {
        name: value for name, value in args.items() if isinstance(value, str | int | float | bool)
    }


def _extension(provider: TracerProvider) -> type[SchemaExtension]:
    if _State.extension is not None:
        return _State.extension
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from strawberry.extensions.base_extension import LifecycleStep
    from strawberry.extensions.tracing import OpenTelemetryExtension
    from strawberry.types import ExecutionContext

    class OrderGraphTracing(OpenTelemetryExtension):
        """Strawberry's extension bound to this provider, without input objects in spans."""

        def __init__(self, *, execution_context: ExecutionContext | None = None) -> None:
            super().__init__(
                execution_context=execution_context,
                arg_filter=scalar_arguments,
                tracer_provider=provider,
            )

        def on_execute(self) -> Generator[None, None, None]:
            # The operation span is current while it executes, so work done outside any
            # resolver (the compiled fast path's reads) is traced beneath it too.
            token = otel_context.attach(
                trace.set_span_in_context(self._span_holder[LifecycleStep.OPERATION])
            )
            try:
                yield
            finally:
                otel_context.detach(token)

    _State.extension = OrderGraphTracing
    return OrderGraphTracing


__all__ = ["configure_tracer_provider", "traces_url", "tracing_extensions"]
