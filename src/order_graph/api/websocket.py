"""Websocket messages as the protocols define them: JSON in text frames, and ready-made frames.

Both graphql-transport-ws and the legacy graphql-ws carry JSON text; graphql-ws, Apollo and
gql close or fail a connection that sends a binary frame. Strawberry sends bytes as binary
frames, and the app encodes JSON to bytes for HTTP, so every websocket message is sent here
as text, whatever the encoder returns, with or without permessage-deflate.

A subscription event rendered for a cohort (`api/multiplex.py`) is already JSON; what each
member sends differs only by its operation id. Strawberry's path for a result (its stream
hooks, the error policy, a message dict per subscriber, its encoding) cost most of a
delivery's CPU, so a cohort's error-free event goes out as a ready-made frame instead: the
operation's prefix (`{"id":…,"type":"next","payload":{"data":`, or graphql-ws's `data`
message), the cohort's data, and the operation's suffix. The suffix carries the result's
`extensions` (the query cost), which are the operation's, not the event's: the operation's
first result takes strawberry's path and the suffix is learnt from what it sent. Results with
errors always take strawberry's path, so every subscriber's errors are masked as its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

import orjson
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import Message
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import OperationMessage

from order_graph.api.context import Context


class TextFrames(ASGIWebSocketAdapter):
    async def send_json(self, message: Mapping[str, object]) -> None:
        await self.send_text(self.view.encode_json_string(message))

    async def send_text(self, text: str) -> None:
        try:
            await self.ws.send_text(text)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class Frames:
    """How one operation sends a ready-made event: prefix + data + suffix, as text."""

    __slots__ = ("_operation", "_prefix", "_suffix", "_websocket")

    def __init__(
        self, websocket: TextFrames, prefix: str, operation: Operation[Any, Any] | None
    ) -> None:
        self._websocket = websocket
        self._prefix = prefix
        self._operation = operation  # graphql-transport-ws: sends nothing once completed
        self._suffix: str | None = None  # known after the operation's first result

    @property
    def ready(self) -> bool:
        return self._suffix is not None

    def learn(self, payload: Mapping[str, object]) -> None:
        extensions = payload.get("extensions")
        tail = "" if not extensions else ',"extensions":' + orjson.dumps(extensions).decode()
        self._suffix = tail + "}}"

    async def send(self, data: str) -> None:
        assert self._suffix is not None
        if self._operation is not None and self._operation.completed:
            return
        await self._websocket.send_text(self._prefix + data + self._suffix)


# The frames of the operation whose task is running (set by the handlers below).
OPERATION_FRAMES: ContextVar[Frames | None] = ContextVar("operation_frames", default=None)


def _id(operation_id: str) -> str:
    return orjson.dumps(operation_id).decode()


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws, with ready-made frames for cohort events."""

    websocket: TextFrames

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.frames: dict[str, Frames] = {}

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        prefix = '{"id":' + _id(operation.id) + ',"type":"next","payload":{"data":'
        frames = Frames(self.websocket, prefix, operation)
        self.frames[operation.id] = frames
        OPERATION_FRAMES.set(frames)  # this operation's task only
        try:
            await super().run_operation(operation)
        finally:
            if self.frames.get(operation.id) is frames:
                del self.frames[operation.id]

    async def send_message(self, message: Message) -> None:
        if message["type"] == "next":
            frames = self.frames.get(message["id"])
            if frames is not None and not frames.ready:
                frames.learn(message["payload"])
        await super().send_message(message)


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """graphql-ws (legacy), with ready-made frames for cohort events."""

    websocket: TextFrames

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.frames: dict[str, Frames] = {}

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        prefix = '{"type":"data","id":' + _id(operation_id) + ',"payload":{"data":'
        frames = Frames(self.websocket, prefix, None)
        OPERATION_FRAMES.set(frames)  # this operation's task only
        self.frames[operation_id] = frames
        try:
            await super().handle_async_results(operation_id, query, operation_name, variables)
        finally:
            if self.frames.get(operation_id) is frames:
                del self.frames[operation_id]

    async def send_message(self, message: OperationMessage) -> None:
        if message["type"] == "data":
            frames = self.frames.get(message["id"])
            if frames is not None and not frames.ready:
                frames.learn(message["payload"])
        await super().send_message(message)
