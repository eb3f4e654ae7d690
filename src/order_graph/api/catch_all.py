"""The last line: an exception that escapes any route still gets the error policy's answer.

In the spirit of Starlette's ServerErrorMiddleware, but it never answers a plain-text 500 and
never re-raises to the server (which would then close a keep-alive connection under the next
request): over HTTP a JSON GraphQL error body (503 `UNAVAILABLE` with `Retry-After`, 500
`INTERNAL`, or a `Refusal`'s own status), on a websocket a close frame (1013 "try again later"
for an unavailable database, 1011 otherwise, or a `Refusal`'s own code). It sits inside the
request log, which gives every request its id. A caller that hangs up before its request was
read whole is nobody's error: there is no one to answer, and the request log says 499.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from order_graph.api import error_policy

MAX_CLOSE_REASON_BYTES = 123  # what a websocket close frame can carry


def error_body(message: str, extensions: dict[str, Any]) -> bytes:
    return orjson.dumps({"errors": [{"message": message, "extensions": extensions}]})


def answer_for(exc: Exception, request_id: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body of the HTTP answer to `exc`."""
    headers = [(b"content-type", b"application/json")]
    if isinstance(exc, error_policy.Refusal):
        if exc.status == 408:
            headers.append((b"connection", b"close"))
        return exc.status, headers, error_body(exc.message, {"code": exc.code})
    judged = error_policy.judge(exc)
    message, extensions = error_policy.masked(judged, request_id)
    if judged == "unavailable":
        headers.append((b"retry-after", b"1"))
        return 503, headers, error_body(message, extensions)
    return 500, headers, error_body(message, extensions)


def close_for(exc: Exception, request_id: str) -> tuple[int, str]:
    """Close code and reason of a websocket ended by `exc`."""
    if isinstance(exc, error_policy.Refusal):
        code, reason = exc.close_code, f"{exc.code}: {exc.message}"
    elif error_policy.judge(exc) == "unavailable":
        code, reason = 1013, f"UNAVAILABLE: retry shortly (requestId {request_id})"
    else:
        code, reason = 1011, f"INTERNAL (requestId {request_id})"
    return code, reason.encode()[:MAX_CLOSE_REASON_BYTES].decode(errors="ignore")


class CatchAll:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started = closed = False

        async def watched(message: Message) -> None:
            nonlocal started, closed
            kind = message["type"]
            if kind in ("http.response.start", "websocket.accept"):
                started = True
            elif kind == "websocket.close":
                closed = True
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except ClientDisconnect:
            scope.setdefault("state", {})["client_gone"] = True
        except Exception as exc:
            request_id = str(scope.get("state", {}).get("request_id", ""))
            error_policy.record(exc, request_id, scope.get("path"))
            if scope["type"] == "http":
                if not started:
                    status, headers, body = answer_for(exc, request_id)
                    headers.append((b"content-length", str(len(body)).encode()))
                    start = {"type": "http.response.start", "status": status, "headers": headers}
                    await send(start)
                    await send({"type": "http.response.body", "body": body})
            elif not closed:
                code, reason = close_for(exc, request_id)
                await send({"type": "websocket.close", "code": code, "reason": reason})
