"""The relay as a process: logging, SIGTERM/SIGINT for a clean stop, exit status."""

from __future__ import annotations

import asyncio
import logging
import signal

from order_graph.config import Settings
from order_graph.relay.publisher import StreamMisconfigured
from order_graph.relay.runner import run_relay
from order_graph.relay.settings import RelaySettings

log = logging.getLogger(__name__)


def main(settings: RelaySettings | Settings | None = None) -> int:
    """Entry point for `order-graph relay` and `python -m order_graph.relay`."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(_run(settings or RelaySettings()))
    except StreamMisconfigured as exc:
        log.error("relay: %s", exc)
        return 2
    return 0


async def _run(settings: RelaySettings | Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        # Finish the batch in flight and save its position, then exit.
        loop.add_signal_handler(signum, stop.set)
    await run_relay(settings, stop)
