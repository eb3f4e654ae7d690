"""The Starlette application: GraphQL over HTTP and websockets, health, schema and fragments."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from importlib import resources
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UnsetType

from order_graph.api import fast_lane, graphiql, http_spec
from order_graph.api.auth import NOBODY, Authenticator, Unauthenticated
from order_graph.api.body import BodyTooLarge, BoundedRequest
from order_graph.api.catch_all import CatchAll
from order_graph.api.context import Context
from order_graph.api.limits import Limits
from order_graph.api.origins import Origins, parse_origins
from order_graph.api.persisted import TrustedDocuments, refuse_websocket
from order_graph.api.schema import build_schema
from order_graph.api.security_headers import SecurityHeaders
from order_graph.api.subgraph import build_subgraph_schema
from order_graph.api.view import SpecView, subscription_protocols
from order_graph.api.ws_quota import ClientQuota
from order_graph.config import Settings
from order_graph.deadlines.runner import DeadlineRunner
from order_graph.domain.status import MainStatus
from order_graph.events.hub import EventHub
from order_graph.events.listener import PostgresListener
from order_graph.events.sequencer import Sequencer
from order_graph.ops import collector
from order_graph.ops.logs import RequestLog, lean_log_records
from order_graph.ops.metrics import (
    EVENT_LAG,
    POOL_IN_USE,
    TRANSITIONS,
    WEBSOCKETS,
    metrics_endpoint,
)
from order_graph.ops.tracing import tracing_extensions
from order_graph.service import Clock, Observer, OrderService, utc_now
from order_graph.storage import migrate
from order_graph.storage.database import Database, Timeouts

log = logging.getLogger("order_graph")
READINESS_SECONDS = 0.8  # /readyz answers within a second, whatever the database does


def limits_of(settings: Settings) -> Limits:
    return Limits(
        max_depth=settings.max_depth,
        max_aliases=settings.max_aliases,
        max_tokens=settings.max_tokens,
        max_cost=settings.max_cost,
        max_body_bytes=settings.max_body_bytes,
        max_document_bytes=settings.max_document_bytes,
    )


def error_response(message: str, status: int, code: str | None = None) -> JSONResponse:
    error: dict[str, Any] = {"message": message}
    if code is not None:
        error["extensions"] = {"code": code}
    return JSONResponse({"errors": [error]}, status_code=status)


class GraphQLApp(SpecView):
    def __init__(
        self,
        settings: Settings,
        db: Database,
        service: OrderService,
        hub: EventHub,
        auth: Authenticator,
        subgraph: bool = False,
    ) -> None:
        build = build_subgraph_schema if subgraph else build_schema
        self.order_schema = build(
            limits_of(settings),
            settings.is_production,
            settings.introspection,
            extra_extensions=tracing_extensions(settings.otel_endpoint, db.engine),
            compiled=settings.compiled_queries,
        )
        super().__init__(
            self.order_schema,
            # GET serves GraphiQL only (graphiql.answer_other): every operation is a POST, and
            # every POST is authenticated before it runs.
            graphql_ide=None,
            allow_queries_via_get=False,
            subscription_protocols=subscription_protocols(settings.legacy_graphql_ws),
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout),
            max_subscriptions_per_connection=settings.ws_max_subscriptions,
            # Origins (api/origins.py) has refused other pages before the view runs.
            allowed_origins=("*",),
        )
        fragments = _packaged("fragments.graphql")
        with_page = settings.graphiql and not subgraph  # the subgraph is for routers
        self.graphiql_page = graphiql.page(fragments, auth.required) if with_page else None
        self.persisted = TrustedDocuments(db)
        self.max_body_bytes = settings.max_body_bytes
        self.body_timeout = settings.body_timeout
        # With auth off callers name themselves, so a quota per name would bound nothing.
        self.quota = (
            ClientQuota(settings.ws_max_connections_per_client)
            if settings.auth == "required"
            else None
        )
        self.max_cost = settings.max_cost
        # The fast lane skips the extension pipeline, tracing's spans included.
        self.fast_lane = settings.compiled_queries and not settings.otel_endpoint
        self.db = db
        self.service = service
        self.hub = hub
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            WEBSOCKETS.inc()
            try:
                await super().__call__(scope, receive, send)
            finally:
                WEBSOCKETS.dec()
                client = scope.get("state", {}).get("quota_client")
                if self.quota is not None and client is not None:
                    self.quota.release(client)
            return
        request = BoundedRequest(scope, receive, self.max_body_bytes, self.body_timeout)
        response = await self._answer(request)
        await response(scope, receive, send)

    async def _answer(self, request: Request) -> Response:
        if int(request.headers.get("content-length") or 0) > self.max_body_bytes:
            return error_response("The request body is too large.", 413, "REQUEST_TOO_LARGE")
        if request.method != "POST":
            return graphiql.answer_other(request, self.graphiql_page)
        negotiated = http_spec.negotiate(request.headers.get("accept"))
        if negotiated is None:
            return http_spec.not_acceptable()
        try:
            response = await self._answer_post(request, negotiated.streaming)
        except BodyTooLarge:
            response = error_response("The request body is too large.", 413, "REQUEST_TOO_LARGE")
        except http_spec.Refused as refused:
            response = http_spec.refusal(refused, negotiated.media)
        except HTTPException as exc:
            # Strawberry answers bad requests in plain text; callers expect a GraphQL body.
            response = error_response(exc.reason, exc.status_code)
        status = getattr(request.state, "request_error_status", None)
        return http_spec.finish(response, negotiated.media, status)

    async def _answer_post(self, request: Request, streaming: bool) -> Response:
        try:
            request.state.principal = await self.auth.principal(
                request.headers.get("authorization"), request.headers.get("x-client-id")
            )
        except Unauthenticated as exc:
            return error_response(str(exc), 401, "UNAUTHENTICATED")
        body, converted = await http_spec.operation_body(request)
        resolved = await self.persisted.resolve(body, request.state.principal)
        if converted or resolved is not body:
            request = http_spec.with_body(request, resolved)
        if self.fast_lane and not streaming:
            fast = await fast_lane.answer(
                request, self.order_schema, lambda: self.get_context(request, None), self.max_cost
            )
            if fast is not None:
                return fast
        return await self.run(request)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None
    ) -> Context:
        return Context(
            request=request,
            response=response,
            db=self.db,
            service=self.service,
            principal=getattr(request.state, "principal", NOBODY),
            hub=self.hub,
            request_id=request.state.request_id,
        )

    async def on_ws_connect(self, context: Context) -> UnsetType:
        params = context.connection_params or {}
        authorization = params.get("authorization") or params.get("Authorization")
        client_id = params.get("clientId") or context.request.headers.get("x-client-id")
        key = authorization if isinstance(authorization, str) else None
        try:
            context.principal = await self.auth.principal(
                key, client_id if isinstance(client_id, str) else None
            )
        except Unauthenticated as exc:
            raise ConnectionRejectionError({"message": str(exc)}) from None
        refuse_websocket(context.principal)  # held to registered documents (persisted.py)
        assert isinstance(context.request, WebSocket)
        self.auth.watch(key, context.request)  # closed with 4403 once the key is revoked
        state = context.request.state
        if self.quota is not None and getattr(state, "quota_client", None) is None:
            self.quota.acquire(context.principal.name)  # a Refusal closes the socket with 4429
            state.quota_client = context.principal.name
        # No payload at all: graphql-ws 5 clients (GraphiQL's among them) refuse a null one.
        return UnsetType()  # the singleton UNSET

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        value = orjson.loads(data)
        if not isinstance(value, dict | list):
            # Strawberry answers malformed JSON with a 400; a bare `null` or `1` is no better.
            raise json.JSONDecodeError("A GraphQL request is a JSON object.", "", 0)
        return value


class AppObserver(Observer):
    def __init__(self, hub: EventHub) -> None:
        self.hub = hub

    def committed(self) -> None:
        # Wakes this process's subscribers at once; other processes hear PostgreSQL's NOTIFY.
        self.hub.poke()

    def transitioned(self, source: MainStatus, target: MainStatus) -> None:
        TRANSITIONS.labels(source.value, target.value).inc()


class Edge(Starlette):
    """Starlette, but a POST to /graphql goes from the middleware straight to its app.

    Starlette's own outer layers (ServerErrorMiddleware, ExceptionMiddleware, the router and
    the route) each add a coroutine and a wrapper around every message sent, and decide
    nothing for that request: CatchAll answers what escapes, and the app answers every method
    it is routed. The other paths take the router as usual (without ServerErrorMiddleware,
    which CatchAll, inside it, left nothing to catch)."""

    graphql: ASGIApp | None = None

    def build_middleware_stack(self) -> ASGIApp:
        rest = ExceptionMiddleware(self.router, debug=self.debug)
        graphql = self.graphql

        async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
            if (
                graphql is not None
                and scope["type"] == "http"
                and scope["method"] == "POST"
                and scope["path"] == "/graphql"
            ):
                await graphql(scope, receive, send)
            else:
                await rest(scope, receive, send)

        app: ASGIApp = dispatch
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return app


def _packaged(name: str) -> str:
    return resources.files("order_graph").joinpath(name).read_text()


def create_app(settings: Settings | None = None, clock: Clock = utc_now) -> Starlette:
    settings = settings or Settings()
    timeouts = Timeouts(
        settings.db_connect_timeout, settings.db_pool_timeout, settings.db_statement_timeout
    )
    db = Database(settings.database_url, settings.db_pool_size, timeouts)
    hub = EventHub(db)
    auth = Authenticator(db, settings.auth == "required", settings.auth_cache_seconds)
    sequencer = Sequencer(db)
    service = OrderService(db, clock, observer=AppObserver(hub), sequencer=sequencer)
    deadlines = DeadlineRunner.of(service, settings)
    graphql = GraphQLApp(settings, db, service, hub, auth)
    # The federation subgraph, for routers: its own path and schema, the same checks.
    subgraph = GraphQLApp(settings, db, service, hub, auth, subgraph=True)
    listener = None if db.is_sqlite else PostgresListener(settings.database_url, hub.poke)
    fragments = _packaged("fragments.graphql")
    printed = graphql.order_schema.as_str() + "\n"  # the served schema itself, not a rebuild
    subgraph_printed = subgraph.order_schema.as_str() + "\n"

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await hub.start()
        sequencer.start()
        auth.start()
        if listener is not None:
            listener.start()
        lean_log_records()
        thresholds = collector.settle()
        stop_deadlines = asyncio.Event()
        runner = None
        if settings.deadline_runner:
            runner = asyncio.create_task(deadlines.run(stop_deadlines), name="deadlines")
        try:
            yield
        finally:
            stop_deadlines.set()
            if runner is not None:
                # It finishes its batch; one stuck on the database is cancelled, which rolls
                # back only the firings in flight (they stay due for the next runner).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(runner, 5)
            if listener is not None:
                await listener.stop()
            await auth.stop()
            await sequencer.stop()
            await hub.stop()
            await db.dispose()
            collector.unsettle(thresholds)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        try:
            at_head = await asyncio.wait_for(migrate.is_at_head(db), READINESS_SECONDS)
        except Exception as exc:
            log.warning("readiness check: database unreachable (%s)", type(exc).__name__)
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
        if not at_head:
            return JSONResponse({"status": "unavailable", "database": "migrations behind"}, 503)
        return JSONResponse({"status": "ok"})

    def text(body: str) -> Any:
        async def endpoint(request: Request) -> Response:
            return PlainTextResponse(body, media_type="application/graphql")

        return endpoint

    async def metrics(request: Request) -> Response:
        POOL_IN_USE.set(db.connections_in_use())
        EVENT_LAG.set(hub.lag())
        return await metrics_endpoint(request, settings.metrics_token)

    routes = [
        Route("/graphql", graphql, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        *(graphiql.routes() if settings.graphiql else []),
        Route("/metrics", metrics),
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/fragments.graphql", text(fragments)),
        Route("/subgraph", subgraph, methods=["POST"]),
    ]
    if settings.introspection:  # the printed schemas are introspection by another name
        routes.append(Route("/schema.graphql", text(printed)))
        routes.append(Route("/subgraph.graphql", text(subgraph_printed)))
    # The request log gives every request its id; inside it, nothing escapes the catch-all.
    middleware = [
        Middleware(RequestLog),
        Middleware(CatchAll),
        Middleware(SecurityHeaders),
        Middleware(
            Origins,
            allowed=parse_origins(settings.allowed_origins),
            paths=["/graphql", "/subgraph"],
        ),
    ]
    app = Edge(routes=routes, lifespan=lifespan, middleware=middleware)
    app.graphql = graphql
    app.state.db = db
    app.state.deadlines = deadlines
    return app
