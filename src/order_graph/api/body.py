"""Reading a request body within bounds: at most `max_bytes`, and all of it within `seconds`
of the first read, so that neither a huge body nor one sent a byte a second holds a worker."""

from __future__ import annotations

import asyncio
import weakref
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
        elif loop.time() >= self.deadline:
            raise body_timeout(self.seconds)
        task = asyncio.current_task()
        assert task is not None
        watch = _watch(loop)
        watch.waiting[task] = self.deadline
        try:
            message = await self._receive()
        except asyncio.CancelledError:
            if task in watch.expired and task.uncancel() == 0:
                raise body_timeout(self.seconds) from None
            raise
        finally:
            watch.waiting.pop(task, None)
            watch.expired.discard(task)
        self.seen += len(message.get("body", b""))
        if self.seen > self.max_bytes:
            raise BodyTooLarge
        self.complete = not message.get("more_body", False)
        return message


TICK = 0.05


class _Watch:
    """The deadlines of the bodies being read in one event loop, checked every TICK seconds by
    one timer while there are any: a timer per body (asyncio.timeout's, or a bare call_at) cost
    more than the rest of reading it, and a body nearly always arrives whole in the first
    message, with no wait at all. A body is therefore cut at most TICK after its deadline."""

    def __init__(self) -> None:
        self.waiting: dict[asyncio.Task[Any], float] = {}
        self.expired: set[asyncio.Task[Any]] = set()
        self.ticking = False  # not the timer itself, whose handle holds the loop

    def check(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        for task, deadline in list(self.waiting.items()):
            if deadline <= now:
                del self.waiting[task]
                self.expired.add(task)
                task.cancel()
        self.ticking = bool(self.waiting)
        if self.ticking:
            loop.call_later(TICK, self.check)


_WATCHES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Watch] = weakref.WeakKeyDictionary()


def _watch(loop: asyncio.AbstractEventLoop) -> _Watch:
    watch = _WATCHES.get(loop)
    if watch is None:
        watch = _WATCHES[loop] = _Watch()  # not holding the loop: the entry goes with it
    if not watch.ticking:
        watch.ticking = True
        loop.call_later(TICK, watch.check)
    return watch
