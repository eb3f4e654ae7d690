"""Reading a request body within bounds: at most `max_bytes`, and all of it within `seconds`
of the first read, so that neither a huge body nor one sent a byte a second holds a worker."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import Receive

from order_graph.api.error_policy import Refusal


class BodyTooLarge(Exception):
    pass


def body_timeout(seconds: float) -> Refusal:
    return Refusal(
        f"The request body did not arrive within {seconds:g} seconds.", "REQUEST_TIMEOUT", 408
    )


def limited(receive: Receive, max_bytes: int, seconds: float) -> Receive:
    """Stops reading a body past `max_bytes`, also when no Content-Length announced it, and
    past `seconds` from the first read. Once the body is complete, reads (a streaming response
    waiting for the client to leave) pass through untimed."""
    seen = 0
    deadline: float | None = None
    complete = False

    async def receive_limited() -> Any:
        nonlocal seen, deadline, complete
        if complete:
            return await receive()
        if deadline is None:
            deadline = asyncio.get_running_loop().time() + seconds
        try:
            async with asyncio.timeout_at(deadline):
                message = await receive()
        except TimeoutError:
            raise body_timeout(seconds) from None
        seen += len(message.get("body", b""))
        if seen > max_bytes:
            raise BodyTooLarge
        complete = not message.get("more_body", False)
        return message

    return receive_limited
