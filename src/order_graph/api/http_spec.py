"""GraphQL over HTTP, to the letter: which media type answers, which bodies are read, and the
status of an answer whose operation never ran.

- The answer is `application/graphql-response+json` when the client prefers it (Apollo Client
  does), `application/json` otherwise, and when `Accept` is missing or allows anything. A POST
  that accepts neither (e.g. only `text/html`) gets 406.
- Bodies are `application/json` (UTF-8) or `application/graphql` (the document itself, with
  `operationName` and `variables` from the query string); anything else gets 415.
- A request error (the operation never ran: the document did not parse or validate, a
  variable did not coerce, a limit refused it) answers without a `data` entry; under
  `application/graphql-response+json` its status is 400 (500 or 503 when the server failed),
  under `application/json` 200, as the spec asks of each.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

import orjson
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
GRAPHQL_DOCUMENT = "application/graphql"
# The media ranges answered with JSON, and which JSON.
ANSWERS = {GRAPHQL_RESPONSE: GRAPHQL_RESPONSE, JSON: JSON, "application/*": JSON, "*/*": JSON}
STREAM_HINT = (
    "Subscriptions are answered as a stream: open a websocket on this URL (graphql-transport-ws, "
    'or the legacy graphql-ws), or POST with `Accept: multipart/mixed;subscriptionSpec="1.0"` '
    "(Apollo Client's HttpLink does) or `Accept: text/event-stream` (graphql-sse)."
)


class Refused(Exception):
    """A request answered with an error and no execution: `status` None for a GraphQL request
    error, whose status depends on the media type."""

    def __init__(self, message: str, code: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


@dataclass(frozen=True)
class Negotiated:
    media: str  # of every JSON answer, errors included
    streaming: bool  # the client asked for a multipart or SSE stream


@functools.lru_cache(maxsize=256)  # clients send a handful of distinct Accept headers
def negotiate(accept: str | None) -> Negotiated | None:
    """The answer's media type, by the client's preference (`q`, then order); None: none."""
    if accept is None or not accept.strip():
        return Negotiated(JSON, streaming=False)
    best: tuple[float, str] | None = None
    streaming = False
    for media, params in _ranges(accept):
        quality = _quality(params)
        if quality <= 0:
            continue
        if media == "text/event-stream" or (
            media == "multipart/mixed" and "subscriptionspec" in params
        ):
            streaming = True
        elif media in ANSWERS and (best is None or quality > best[0]):
            best = (quality, ANSWERS[media])
    if best is None:
        return Negotiated(JSON, streaming=True) if streaming else None
    return Negotiated(best[1], streaming)


def _ranges(header: str) -> Iterable[tuple[str, dict[str, str]]]:
    for part in header.split(","):
        media, *params = part.split(";")
        pairs = (param.partition("=") for param in params)
        yield (
            media.strip().lower(),
            {key.strip().lower(): value.strip().strip('"') for key, _, value in pairs},
        )


def _quality(params: dict[str, str]) -> float:
    try:
        return float(params.get("q", "1"))
    except ValueError:
        return 0.0


def not_acceptable() -> Response:
    return errors_response(
        "This endpoint answers application/graphql-response+json or application/json: "
        "send one of them in `Accept`.",
        "NOT_ACCEPTABLE",
        406,
        JSON,
    )


def method_not_allowed() -> Response:
    response = errors_response(
        "Send GraphQL operations as POST requests (a GET serves GraphiQL to browsers). For "
        "graphql-sse, use its default distinct-connections mode: the single-connection mode "
        "is not supported.",
        "METHOD_NOT_ALLOWED",
        405,
        JSON,
    )
    response.headers["Allow"] = "POST"
    return response


async def operation_body(request: Request) -> tuple[bytes, bool]:
    """The body as JSON, and whether it was converted to JSON; Refused (415) for a media type
    GraphQL over HTTP does not define."""
    kind, charset = _media_type(request.headers.get("content-type", ""))
    if charset not in (None, "utf-8"):
        raise Refused("Request bodies must be UTF-8.", "UNSUPPORTED_MEDIA_TYPE", 415)
    if kind == JSON:
        return await request.body(), False
    if kind == GRAPHQL_DOCUMENT:
        try:
            document = (await request.body()).decode()
            variables = orjson.loads(request.query_params.get("variables") or "null")
        except (UnicodeDecodeError, orjson.JSONDecodeError):
            raise Refused("The body or `variables` is malformed.", "BAD_REQUEST", 400) from None
        payload = {
            "query": document,
            "operationName": request.query_params.get("operationName"),
            "variables": variables,
        }
        return orjson.dumps(payload), True
    raise Refused(
        "Send the operation as JSON (`Content-Type: application/json`) or as a GraphQL "
        "document (`Content-Type: application/graphql`).",
        "UNSUPPORTED_MEDIA_TYPE",
        415,
    )


@functools.lru_cache(maxsize=256)
def _media_type(content_type: str) -> tuple[str, str | None]:
    """A Content-Type's media type and charset, lowercase."""
    kind, *params = content_type.split(";")
    pairs = (param.strip().lower().partition("=") for param in params)
    charset = {key: value.strip('"') for key, _, value in pairs}.get("charset")
    return kind.strip().lower(), charset


def with_body(request: Request, body: bytes) -> Request:
    """The request again, its body replaced by `body` (JSON), for the views that read it."""
    headers = [
        (name, value)
        for name, value in request.scope["headers"]
        if name not in (b"content-type", b"content-length")
    ]
    headers += [(b"content-type", JSON.encode()), (b"content-length", str(len(body)).encode())]
    return Request({**request.scope, "headers": headers}, _replaying(body, request.receive))


def _replaying(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()  # a disconnect, for a streamed answer
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def request_error_status(errors: Iterable[GraphQLError]) -> int:
    """Under application/graphql-response+json: the status of an operation that never ran."""
    codes = {(error.extensions or {}).get("code") for error in errors}
    if "UNAVAILABLE" in codes:
        return 503
    if "INTERNAL" in codes:
        return 500
    return 400


def errors_response(message: str, code: str, status: int, media: str) -> Response:
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return Response(orjson.dumps(body), status_code=status, media_type=media)


def refusal(refused: Refused, media: str) -> Response:
    status = refused.status or (400 if media == GRAPHQL_RESPONSE else 200)
    return errors_response(refused.message, refused.code, status, media)


def finish(response: Response, media: str, request_error_status: int | None) -> Response:
    """Labels a JSON answer with the negotiated media type, and its status under it."""
    if media != GRAPHQL_RESPONSE or response.headers.get("content-type") != JSON:
        return response
    response.headers["content-type"] = GRAPHQL_RESPONSE
    if response.status_code == 200 and request_error_status is not None:
        response.status_code = request_error_status
    return response
