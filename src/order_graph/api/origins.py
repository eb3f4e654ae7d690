"""Which web pages may call the API: one origin policy for `/graphql` over HTTP and websockets.

A request without `Origin` does not come from a browser page (servers, apps, CLIs) and passes,
as does a page served by this server itself (GraphiQL). A page on another origin passes only
when `ORDER_GRAPH_ALLOWED_ORIGINS` lists that origin (or `*`): its HTTP answers then carry the
CORS headers, and its preflight requests are answered here. Any other page gets 403 with a
GraphQL-style body naming the setting; a websocket handshake from it is refused with the same
403 before the connection opens (browsers apply no CORS to websockets, so this check is what
stops a page on another origin from using a websocket).
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.http.websocket_origin import (
    is_same_origin,
    normalize_allowed_origins,
    normalize_origin,
)

PREFLIGHT_MAX_AGE = "600"
EXPOSED_HEADERS = "X-Request-Id"


def parse_origins(setting: str) -> frozenset[str]:
    """`ORDER_GRAPH_ALLOWED_ORIGINS`: comma-separated origins (`https://admin.example.com`)."""
    try:
        return normalize_allowed_origins([o.strip() for o in setting.split(",") if o.strip()])
    except ValueError as exc:
        raise ValueError(f"ORDER_GRAPH_ALLOWED_ORIGINS: {exc}") from None


class Origins:
    def __init__(self, app: ASGIApp, allowed: frozenset[str], paths: Iterable[str]) -> None:
        self.app = app
        self.allowed = allowed
        self.paths = frozenset(paths)

    def permits(self, origin: str) -> bool:
        return "*" in self.allowed or normalize_origin(origin) in self.allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None or is_same_origin(origin, headers.get("host")):
            await self.app(scope, receive, send)
        elif not self.permits(origin):
            await self._refuse(scope, receive, send, origin)
        elif scope["type"] == "websocket":
            await self.app(scope, receive, send)
        elif scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(headers, origin)(scope, receive, send)
        else:
            await self.app(scope, receive, _with_cors(send, origin))

    def _preflight(self, headers: Headers, origin: str) -> Response:
        allow = {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "GET, POST",
            "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
            "Vary": "Origin",
        }
        requested = headers.get("access-control-request-headers")
        if requested:
            allow["Access-Control-Allow-Headers"] = requested
        return Response(status_code=204, headers=allow)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, origin: str) -> None:
        message = (
            f"Pages on {origin} may not call this API: list the origin in "
            "ORDER_GRAPH_ALLOWED_ORIGINS to allow them."
        )
        body = {"errors": [{"message": message, "extensions": {"code": "ORIGIN_NOT_ALLOWED"}}]}
        refusal = Response(orjson.dumps(body), status_code=403, media_type="application/json")
        if scope["type"] == "http":
            await refusal(scope, receive, send)
            return
        websocket = WebSocket(scope, receive, send)
        if "websocket.http.response" in scope.get("extensions", {}):
            await websocket.send_denial_response(refusal)
        else:  # closing before accepting is a bare 403
            await websocket.close(1008)


def _with_cors(send: Send, origin: str) -> Send:
    async def send_with_cors(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = Headers(raw=message.get("headers", []))
            vary = ", ".join(v for v in (headers.get("vary"), "Origin") if v)
            message["headers"] = [
                *(item for item in message.get("headers", []) if item[0] != b"vary"),
                (b"access-control-allow-origin", origin.encode()),
                (b"access-control-expose-headers", EXPOSED_HEADERS.encode()),
                (b"vary", vary.encode()),
            ]
        await send(message)

    return send_with_cors
