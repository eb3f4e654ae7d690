"""Reading a request body within bounds: at most `max_bytes`, and all of it within `seconds`
of the first read, so that neither a huge body nor one sent a byte a second holds a worker."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive, Scope

from order_graph.api.error_policy import Refusal


class BodyTooLarge(Exception):
    pass


def body_timeout(seconds: float) -> Refusal:
    return Refusal(
        f"The request body did not arrive within {seconds:g} seconds.", "REQUEST_TIMEOUT", 408
    )


class BoundedRequest(Request):
    """A Request whose body is read within the bounds, straight from the ASGI messages (not
    through Starlette's stream, an async generator per body); what reads `receive` itself (a
    multipart form, a streaming answer waiting for the client to leave) is bounded alike."""

    def __init__(self, scope: Scope, receive: Receive, max_bytes: int, seconds: float) -> None:
        self._bounds = _Bounds(receive, max_bytes, seconds)
        super().__init__(scope, self._bounds.receive)

    async def body(self) -> bytes:
        if not hasattr(self, "_body"):
            if self._stream_consumed:
                raise RuntimeError("Stream consumed")
            chunks: list[bytes] = []
            while not self._bounds.complete:
                message = await self._bounds.receive()
                if message["type"] == "http.disconnect":
                    self._is_disconnected = True
                    raise ClientDisconnect  # as Starlette's stream says it
                chunks.append(message.get("body", b""))
            self._stream_consumed = True
            self._body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return self._body


class _Bounds:
    """Stops reading a body past `max_bytes`, also when no Content-Length announced it, and
    past `seconds` from the first read. Once the body is complete, reads pass through untimed."""

    def __init__(self, receive: Receive, max_bytes: int, seconds: float) -> None:
        self._receive = receive
        self.max_bytes = max_bytes
        self.seconds = seconds
        self.seen = 0
        self.deadline: float | None = None
        self.complete = False

    async def receive(self) -> Any:
        if self.complete:
            return await self._receive()
        loop = asyncio.get_running_loop()
        if self.deadline is None:
            self.deadline = loop.time() + self.seconds
        # A timer handle of our own: asyncio.timeout's context manager costs twice as much,
        # and a body nearly always arrives in the first message, with no wait at all.
        task = asyncio.current_task()
        assert task is not None
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        timer = loop.call_at(self.deadline, expire)
        try:
            message = await self._receive()
        except asyncio.CancelledError:
            if expired and task.uncancel() == 0:
                raise body_timeout(self.seconds) from None
            raise
        finally:
            timer.cancel()
        self.seen += len(message.get("body", b""))
        if self.seen > self.max_bytes:
            raise BodyTooLarge
        self.complete = not message.get("more_body", False)
        return message
