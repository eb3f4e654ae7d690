"""Subscriptions over HTTP (multipart, SSE) end cleanly when the server drains.

On SIGTERM websockets are closed with 1012 and their clients reconnect elsewhere; an HTTP
stream would instead hold the drain for its whole grace period and then be cut off. So the
server calls `drain()` as it starts shutting down, and every stream then sends its
transport's end (`--graphql--`, `event: complete`) at once: clients see a finished
subscription and resume from their last cursor on another instance.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable

TextStream = Callable[[], AsyncIterator[str]]

_draining = asyncio.Event()


def drain() -> None:
    """Called by the server, in its event loop, when it starts shutting down."""
    _draining.set()


def until_drained(stream: TextStream, ending: str) -> TextStream:
    """`stream`, ended by `ending` as soon as the server drains."""

    async def ended() -> AsyncGenerator[str, None]:
        source = stream()
        drained = asyncio.ensure_future(_draining.wait())
        try:
            while True:
                item = asyncio.ensure_future(anext(source))
                await asyncio.wait({item, drained}, return_when=asyncio.FIRST_COMPLETED)
                if not item.done():
                    item.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                        await item
                    yield ending
                    return
                try:
                    yield item.result()
                except StopAsyncIteration:
                    return
        finally:
            drained.cancel()
            if isinstance(source, AsyncGenerator):
                await source.aclose()

    return ended
