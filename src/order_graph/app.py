"""The Starlette application: GraphQL, health, and the published schema and fragments."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

from order_graph.api.context import Context
from order_graph.api.schema import schema, sdl
from order_graph.config import Settings
from order_graph.events.hub import EventHub
from order_graph.events.listener import PostgresListener
from order_graph.service import OrderService
from order_graph.storage import migrate
from order_graph.storage.database import Database

log = logging.getLogger("order_graph")


class GraphQLApp(GraphQL[Context, None]):
    def __init__(
        self, settings: Settings, db: Database, service: OrderService, hub: EventHub
    ) -> None:
        protocols = [GRAPHQL_TRANSPORT_WS_PROTOCOL]
        if settings.legacy_graphql_ws:
            protocols.append(GRAPHQL_WS_PROTOCOL)
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql else None,
            subscription_protocols=protocols,
        )
        self.db = db
        self.service = service
        self.hub = hub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope, receive))
        except HTTPException as exc:
            # Strawberry answers bad requests in plain text; callers expect a GraphQL body.
            body = {"errors": [{"message": exc.reason}]}
            response = JSONResponse(body, status_code=exc.status_code)
        await response(scope, receive, send)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        actor = request.headers.get("x-client-id") or "anonymous"
        return Context(
            request=request,
            response=response,
            db=self.db,
            service=self.service,
            actor=actor[:128],
            hub=self.hub,
        )

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)


def _packaged(name: str) -> str:
    return resources.files("order_graph").joinpath(name).read_text()


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    db = Database(settings.database_url, settings.db_pool_size)
    hub = EventHub(db)
    graphql = GraphQLApp(settings, db, OrderService(db, on_commit=hub.poke), hub)
    listener = None if db.is_sqlite else PostgresListener(settings.database_url, hub.poke)
    fragments = _packaged("fragments.graphql")
    printed = sdl()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await hub.start()
        if listener is not None:
            listener.start()
        try:
            yield
        finally:
            if listener is not None:
                await listener.stop()
            await hub.stop()
            await db.dispose()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        try:
            at_head = await migrate.is_at_head(db)
        except Exception:
            log.warning("readiness check: database unreachable", exc_info=True)
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
        if not at_head:
            return JSONResponse({"status": "unavailable", "database": "migrations behind"}, 503)
        return JSONResponse({"status": "ok"})

    def text(body: str) -> Any:
        async def endpoint(request: Request) -> Response:
            return PlainTextResponse(body, media_type="application/graphql")

        return endpoint

    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/fragments.graphql", text(fragments)),
        Route("/schema.graphql", text(printed)),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.db = db
    return app
