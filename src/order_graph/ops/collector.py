"""Python's garbage collector, tuned for a server: after start-up, and for many subscriptions.

What the process built while starting (schemas, modules, the plan cache's code) lives as long
as the process, so the cyclic collector stops scanning it (`gc.freeze`). And it runs far less
often: a request makes a few thousand short-lived objects, which reference counting frees; at
the default threshold (700) the collector ran several times a request (7-13% of a read's CPU).
With 1,000 open subscriptions a worker's heap holds some 500,000 objects, and every full
collection walks all of them: pauses of 0.1-0.35 s every few seconds, which were the p99 of
event delivery (`bench/subscriptions.py`, 1,000 subscribers at 2,000 deliveries/s: p99 523 ms
with the defaults, 118 ms tuned, run back to back). So young objects are collected every
50,000 allocations instead of 700, and the whole heap after 100 collections of the middle
generation instead of 10.
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 50, 100)


def settle() -> tuple[int, int, int]:
    """When an app has started, before it serves anyone. Returns the thresholds before, for
    `unsettle`."""
    gc.collect()
    gc.freeze()
    before = gc.get_threshold()
    gc.set_threshold(*THRESHOLDS)
    return before


def unsettle(thresholds: tuple[int, int, int]) -> None:
    """At shutdown: a process that starts another app (the tests) collects this one."""
    gc.unfreeze()
    gc.set_threshold(*thresholds)
