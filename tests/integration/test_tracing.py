"""Optional OpenTelemetry tracing: one GraphQL operation is one trace, with a span for the
operation and a span per SQL statement inside it; without an endpoint, nothing is imported."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import strawberry
from sqlalchemy import event

from order_graph.api.context import Context
from order_graph.api.schema import build_schema
from order_graph.domain.access import Principal
from order_graph.service import OrderService
from order_graph.storage import migrate
from order_graph.storage.database import Database

pytest.importorskip("opentelemetry.sdk", reason="tracing needs the otel extra")

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

from order_graph.ops.tracing import (
    configure_tracer_provider,
    traces_url,
    tracing_extensions,
)

# Never contacted: configure_tracer_provider replaces the OTLP exporter.
ENDPOINT = "http://otel-collector.invalid:4318"

CREATE = """
mutation CreateForTrace($input: CreateOrderInput!) {
  createOrder(input: $input) { created order { id version } errors { code message } }
}"""

GET = "query GetForTrace($id: ID!) { order(id: $id) { id mainStatus items { skuId } } }"


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    configure_tracer_provider(provider)
    return spans


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'traced.db'}")
    await migrate.upgrade(database)
    yield database
    await database.dispose()


@pytest.fixture
def schema(db: Database, exporter: InMemorySpanExporter) -> Iterator[strawberry.Schema]:
    extensions = tracing_extensions(ENDPOINT, db.engine)
    exporter.clear()
    yield build_schema(extra_extensions=extensions)
    exporter.clear()


@pytest.fixture
def executor_schema(db: Database, exporter: InMemorySpanExporter) -> Iterator[strawberry.Schema]:
    """Without the compiled fast path: every field goes through its resolver."""
    extensions = tracing_extensions(ENDPOINT, db.engine)
    exporter.clear()
    yield build_schema(extra_extensions=extensions, compiled=False)
    exporter.clear()


def context(db: Database) -> Context:
    return Context(
        request=None,  # type: ignore[arg-type]
        response=None,
        db=db,
        service=OrderService(db),
        principal=Principal.trusted("tracing-test"),
    )


def order_input() -> dict[str, Any]:
    return {
        "storeId": f"store-{uuid.uuid4().hex[:10]}",
        "channel": "MINI_PROGRAM",
        "fulfillmentType": "PICKUP",
        "currency": "CNY",
        "items": [{"skuId": "latte", "name": "Latte", "quantity": 2, "unitPrice": "28.00"}],
    }


async def run(schema: strawberry.Schema, db: Database, query: str, **variables: Any) -> Any:
    result = await schema.execute(query, variable_values=variables, context_value=context(db))
    assert result.errors is None, result.errors
    return result.data


def statement_of(span: ReadableSpan) -> str | None:
    """The SQL text under the old (`db.statement`) or the stable (`db.query.text`) convention."""
    attributes = span.attributes or {}
    value = attributes.get("db.statement", attributes.get("db.query.text"))
    return None if value is None else str(value)


def operation_span(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    [span] = [s for s in spans if s.name == f"GraphQL Query: {name}"]
    return span


def descends_from(span: ReadableSpan, ancestor: ReadableSpan, spans: list[ReadableSpan]) -> bool:
    by_id = {s.context.span_id: s for s in spans}
    parent = span.parent
    while parent is not None:
        if parent.span_id == ancestor.context.span_id:
            return True
        above = by_id.get(parent.span_id)
        parent = above.parent if above is not None else None
    return False


async def test_an_operation_is_one_trace_with_its_sql_statements(
    schema: strawberry.Schema, db: Database, exporter: InMemorySpanExporter
) -> None:
    created = await run(schema, db, CREATE, input=order_input())
    assert created["createOrder"]["errors"] == []
    spans = list(exporter.get_finished_spans())

    operation = operation_span(spans, "CreateForTrace")
    assert operation.parent is None
    assert operation.attributes is not None
    assert operation.attributes["component"] == "graphql"
    assert "mutation CreateForTrace" in str(operation.attributes["query"])

    sql = [s for s in spans if statement_of(s) is not None]
    inserts = [s for s in sql if str(statement_of(s)).lstrip().upper().startswith("INSERT")]
    assert any("orders" in str(statement_of(s)) for s in inserts), [statement_of(s) for s in sql]
    for span in sql:
        assert span.context.trace_id == operation.context.trace_id
        assert descends_from(span, operation, spans), span.name
        assert (span.attributes or {}).get("db.system", "sqlite") == "sqlite"

    # Input objects carry customer data: they stay out of the resolver span.
    [resolver] = [s for s in spans if s.name == "GraphQL Resolving: createOrder"]
    params = [key for key in resolver.attributes or {} if key.startswith("graphql.param")]
    assert params == []


async def test_each_operation_has_its_own_trace(
    schema: strawberry.Schema, db: Database, exporter: InMemorySpanExporter
) -> None:
    order_id = (await run(schema, db, CREATE, input=order_input()))["createOrder"]["order"]["id"]
    exporter.clear()

    fetched = await run(schema, db, GET, id=order_id)
    assert fetched["order"]["id"] == order_id
    spans = list(exporter.get_finished_spans())
    operation = operation_span(spans, "GetForTrace")
    selects = [s for s in spans if str(statement_of(s) or "").lstrip().upper().startswith("SELECT")]
    assert selects, [s.name for s in spans]
    assert all(descends_from(s, operation, spans) for s in selects)
    assert {s.context.trace_id for s in spans} == {operation.context.trace_id}


async def test_the_executor_traces_resolvers_with_their_scalar_arguments(
    executor_schema: strawberry.Schema, db: Database, exporter: InMemorySpanExporter
) -> None:
    created = await run(executor_schema, db, CREATE, input=order_input())
    order_id = created["createOrder"]["order"]["id"]
    exporter.clear()
    await run(executor_schema, db, GET, id=order_id)
    [resolver] = [s for s in exporter.get_finished_spans() if s.name == "GraphQL Resolving: order"]
    assert (resolver.attributes or {})["graphql.param.id"] == order_id


async def test_a_second_call_traces_each_statement_once(
    schema: strawberry.Schema, db: Database, exporter: InMemorySpanExporter
) -> None:
    again = tracing_extensions(ENDPOINT, db.engine)
    assert again == tracing_extensions(ENDPOINT, db.engine)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        await run(schema, db, CREATE, input=order_input())
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    sql = [s for s in exporter.get_finished_spans() if statement_of(s) is not None]
    assert statements
    assert sorted(statement_of(s) or "" for s in sql) == sorted(statements)


class Collector(BaseHTTPRequestHandler):
    """A stand-in OTLP/HTTP collector that keeps what it is sent."""

    received: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_spans_reach_an_otlp_http_endpoint(tmp_path: Path) -> None:
    Collector.received.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    script = textwrap.dedent(
        f"""
        import asyncio
        from opentelemetry import trace
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine
        from order_graph.ops.tracing import tracing_extensions

        async def main():
            engine = create_async_engine("sqlite+aiosqlite:///{tmp_path / "otlp.db"}")
            assert tracing_extensions("http://127.0.0.1:{server.server_port}", engine)
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 42 AS answer"))
            await engine.dispose()

        asyncio.run(main())
        assert trace.get_tracer_provider().force_flush(10_000)
        """
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        )
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr
    [(path, content_type, body)] = Collector.received
    assert (path, content_type) == ("/v1/traces", "application/x-protobuf")
    assert b"order-graph" in body
    assert b"SELECT 42 AS answer" in body


def test_a_bare_endpoint_gets_the_otlp_traces_path() -> None:
    assert traces_url("http://collector:4318") == "http://collector:4318/v1/traces"
    assert traces_url("http://collector:4318/") == "http://collector:4318/v1/traces"
    assert traces_url("https://otlp.example/v1/traces") == "https://otlp.example/v1/traces"


def test_without_an_endpoint_nothing_is_imported_and_without_the_extra_it_fails_loudly(
    tmp_path: Path,
) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from sqlalchemy.ext.asyncio import create_async_engine

        import order_graph.app
        from order_graph.ops.tracing import tracing_extensions

        def otel():
            return sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry")

        assert otel() == [], otel()
        engine = create_async_engine("sqlite+aiosqlite:///{tmp_path / "plain.db"}")
        assert tracing_extensions(None, engine) == []
        assert tracing_extensions("", engine) == []
        assert otel() == [], otel()

        sys.modules["opentelemetry"] = None  # as if the otel extra were not installed
        try:
            tracing_extensions("http://collector:4318", engine)
        except RuntimeError as exc:
            assert "order-graph[otel]" in str(exc), exc
        else:
            raise AssertionError("an endpoint without the otel extra must fail loudly")
        print("clean")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "clean"
