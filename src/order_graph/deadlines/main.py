"""`order-graph deadlines`: a runner as a process of its own, until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

from prometheus_client import start_http_server

from order_graph import preflight
from order_graph.config import Settings
from order_graph.deadlines.runner import DeadlineRunner
from order_graph.service import OrderService
from order_graph.storage.database import Database

log = logging.getLogger(__name__)


def main(settings: Settings) -> int:
    # Before logging is set up (it would show alembic's chatter); a refusal is one line.
    preflight.check_database(settings.database_url)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return asyncio.run(_run(settings))


async def _run(settings: Settings) -> int:
    # One connection holds the batch lock, one reads, the others fire.
    db = Database(settings.database_url, pool_size=settings.deadline_concurrency + 2)
    try:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)  # finish the firing in flight, then exit
        if settings.deadline_metrics_port is not None:
            start_http_server(settings.deadline_metrics_port)
        service = OrderService(db)
        runner = DeadlineRunner.of(service, settings)
        log.info("deadlines: runner started (every %.1fs)", settings.deadline_poll_seconds)
        service.sequencer.start()  # positions what a writer that died after its commit left
        try:
            await runner.run(stop)
        finally:
            await service.sequencer.stop()
        return 0
    finally:
        await db.dispose()
