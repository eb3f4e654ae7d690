"""The relay as a process: logging, SIGTERM/SIGINT for a clean stop, exit status."""

from __future__ import annotations

import asyncio
import logging
import signal

from pydantic import ValidationError

from order_graph import preflight
from order_graph.config import Settings
from order_graph.relay.publisher import StreamMisconfigured
from order_graph.relay.runner import run_relay
from order_graph.relay.settings import RelaySettings

log = logging.getLogger(__name__)


def main(settings: RelaySettings | Settings | None = None) -> int:
    """Entry point for `order-graph relay` and `python -m order_graph.relay`."""
    relay_settings, refusal = _start_up_check(settings)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if relay_settings is None or not isinstance(refusal, preflight.Unreachable | None):
        log.error("relay: %s", refusal)
        return 2
    if refusal is not None:
        # Like any outage: the relay waits for the database, retrying with backoff.
        log.warning("relay: %s; waiting for it", refusal)
    try:
        asyncio.run(_run(relay_settings))
    except StreamMisconfigured as exc:
        log.error("relay: %s", exc)
        return 2
    return 0


def _start_up_check(
    settings: RelaySettings | Settings | None,
) -> tuple[RelaySettings | None, preflight.Refusal | None]:
    """The settings, the database URL, the connection and the schema (before logging is set
    up, which would show alembic's chatter)."""
    try:
        relay_settings = RelaySettings.of(settings or RelaySettings())
    except ValidationError as exc:
        return None, preflight.Refusal(preflight.setting_problem(exc))
    try:
        preflight.check_database(relay_settings.database_url)
    except preflight.Refusal as exc:
        return relay_settings, exc
    return relay_settings, None


async def _run(settings: RelaySettings | Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        # Finish the batch in flight and save its position, then exit.
        loop.add_signal_handler(signum, stop.set)
    await run_relay(settings, stop)
