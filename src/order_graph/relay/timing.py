"""Waiting that a stop request cuts short, and exponential backoff for retries."""

from __future__ import annotations

import asyncio
import contextlib


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Sleeps for `seconds`, or less when `stop` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


class Backoff:
    """0.5 s, 1 s, 2 s ... up to a ceiling, so a long outage costs few attempts."""

    def __init__(self, initial: float, ceiling: float) -> None:
        self.initial = initial
        self.ceiling = max(ceiling, initial)
        self.failures = 0

    def next_delay(self) -> float:
        delay = min(self.initial * 2.0**self.failures, self.ceiling)
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0
