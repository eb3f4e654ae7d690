"""Python's garbage collector, tuned for a server holding many open subscriptions.

With 1,000 open subscriptions a worker's heap holds some 500,000 objects, and every full
collection walks all of them: pauses of 0.1-0.35 s every few seconds, which were the p99 of
event delivery (`bench/subscriptions.py`, 1,000 subscribers at 2,000 deliveries/s: p99 523 ms
with the defaults, 118 ms tuned, run back to back). What the process made while starting
(schema, caches, modules) is frozen out of collections for good; young objects are collected
every 50,000 allocations instead of 700, and the whole heap after 100 collections of the
middle generation instead of 10. Reference counting still frees almost everything at once.
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 50, 100)

_tuned = False


def tune() -> None:
    """Called when an app has started, before it serves anyone; only the first call of a
    process (which may start several apps, as the tests do) freezes anything."""
    global _tuned
    if not _tuned:
        gc.freeze()
        gc.set_threshold(*THRESHOLDS)
        _tuned = True
