"""The relay: follows the event log and publishes every event to JetStream, twice.

Loop of the active relay: read a batch after the saved position (one `orderEvents` page), publish
each event's skinny then fat message with up to `relay_publish_window` messages in flight
(`relay/pipeline.py`: acks awaited oldest first, in batches, never two events of one order in
flight at once), then save the batch's last position; the next batch is read while this one is
published. Messages go out in log order on one connection, so the stream is in log order and
everything before its newest message is in it, unless a message was refused while a later one
was stored (a gap): then the relay republishes from its saved position, and JetStream drops
what it already holds by Nats-Msg-Id. A crash between ack and save republishes at most one
batch, dropped the same way within the duplicate window; on taking over the relay also starts
after the newest message already in the stream, which covers crashes older than the window.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from prometheus_client import Gauge, start_http_server
from sqlalchemy.exc import SQLAlchemyError

from order_graph.config import Settings
from order_graph.events import log as event_log
from order_graph.relay.leadership import Lease, leadership
from order_graph.relay.messages import BatchQueryError, EventMessages, read_batch
from order_graph.relay.pipeline import PublishFailed, publish_batch
from order_graph.relay.publisher import NatsUnavailable, Publisher, connected
from order_graph.relay.settings import RelaySettings
from order_graph.relay.subjects import Shape
from order_graph.relay.timing import Backoff, pause
from order_graph.service import OrderService
from order_graph.storage.database import Database

log = logging.getLogger(__name__)

# The database or the schema query failing: back off and start over (re-electing on PostgreSQL).
_DATABASE_ERRORS = (SQLAlchemyError, OSError, BatchQueryError)


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """Publish the events after `position`; `skip` says which shapes of the event right after
    it are already in the stream (a crash between its skinny and fat message)."""

    position: int
    skip: frozenset[tuple[int, Shape]] = frozenset()


@dataclass(slots=True)
class Progress:
    """How far behind the log the stream is; the basis of the lag log line (and a gauge)."""

    published: int = 0
    head: int = 0

    @property
    def lag(self) -> int:
        return max(self.head - self.published, 0)


class Relay:
    def __init__(self, settings: RelaySettings, db: Database, stop: asyncio.Event) -> None:
        self.settings = settings
        self.db = db
        self.service = OrderService(db)
        self.stop = stop
        self.progress = Progress()
        self._lag_logged_at = 0.0
        # A publish failed while a later message was stored, and nothing was saved since.
        self._gap = False

    async def run(self) -> None:
        backoff = self._backoff()
        while not self.stop.is_set():
            try:
                async with leadership(
                    self.db,
                    self.settings.nats_stream,
                    self.stop,
                    self.settings.relay_standby_seconds,
                ) as lease:
                    if lease is None:
                        return
                    backoff.reset()  # the database answered
                    await self._lead(lease)
            except _DATABASE_ERRORS as exc:
                delay = backoff.next_delay()
                log.warning("relay: database unavailable (%s); retrying in %.1fs", exc, delay)
                await pause(self.stop, delay)

    async def _lead(self, lease: Lease) -> None:
        self.progress.published = await lease.load_position()
        backoff = self._backoff()
        while not self.stop.is_set():
            try:
                async with connected(self.settings) as publisher:
                    await publisher.ensure_stream()
                    resume = await self._resume_point(lease, publisher)
                    if backoff.failures:
                        log.info(
                            "relay: NATS at %s reachable again; resuming after position %d",
                            self.settings.nats_url,
                            resume.position,
                        )
                    await self._publish_until_stopped(lease, publisher, resume, backoff)
            except NatsUnavailable as exc:
                delay = backoff.next_delay()
                await self._refresh_head()
                log.warning(
                    "relay: NATS unreachable at %s (%s); %d events waiting; retrying in %.1fs",
                    self.settings.nats_url,
                    exc,
                    self.progress.lag,
                    delay,
                )
                await pause(self.stop, delay)

    async def _resume_point(self, lease: Lease, publisher: Publisher) -> ResumePoint:
        saved = await lease.load_position()
        self.progress.published = saved
        if self._gap:
            # A message after the saved position is missing while later ones were stored: the
            # stream's newest message says nothing about those before it. Republish them all.
            log.warning("relay: a message was refused; republishing after position %d", saved)
            return ResumePoint(saved)
        last = await publisher.last_published()
        if last is None or last.position <= saved:
            return ResumePoint(saved)
        await self._refresh_head()
        if last.position > self.progress.head:
            log.warning(
                "relay: stream %s holds position %d, past the log's newest %d; does it belong to "
                "another database? Resuming after the saved position %d",
                self.settings.nats_stream,
                last.position,
                self.progress.head,
                saved,
            )
            return ResumePoint(saved)
        # Published but not yet saved when the previous relay stopped.
        log.info(
            "relay: stream %s already holds position %d (%s), saved was %d; resuming from there",
            self.settings.nats_stream,
            last.position,
            last.shape,
            saved,
        )
        if last.shape is Shape.FAT:
            return ResumePoint(last.position)
        return ResumePoint(last.position - 1, frozenset({(last.position, last.shape)}))

    async def _publish_until_stopped(
        self, lease: Lease, publisher: Publisher, resume: ResumePoint, backoff: Backoff
    ) -> None:
        position = resume.position
        size, window = self.settings.relay_batch_size, self.settings.relay_publish_window
        ahead: asyncio.Task[list[EventMessages]] | None = None
        try:
            while not self.stop.is_set():
                await lease.confirm()
                batch = await (ahead or read_batch(self.db, self.service, position, size))
                ahead = None
                if len(batch) == size:  # more waiting: read the next batch while this one goes
                    after = batch[-1].position
                    ahead = asyncio.ensure_future(read_batch(self.db, self.service, after, size))
                try:
                    await publish_batch(publisher, batch, resume.skip, window)
                except PublishFailed as failed:
                    if failed.acked is not None:
                        await self._saved(lease, failed.acked)
                    self._gap = self._gap or failed.gap
                    raise NatsUnavailable(str(failed)) from failed
                if batch:
                    position = batch[-1].position
                    await self._saved(lease, position)
                    backoff.reset()
                if len(batch) < size:
                    self.progress.head = max(self.progress.head, position)
                    await pause(self.stop, self.settings.relay_poll_seconds)
                else:
                    await self._report_lag()
        finally:
            if ahead is not None:
                ahead.cancel()
                await asyncio.gather(ahead, return_exceptions=True)

    async def _saved(self, lease: Lease, position: int) -> None:
        await lease.save_position(position)
        self.progress.published = position
        self._gap = False  # everything up to the saved position is in the stream

    async def _refresh_head(self) -> None:
        async with self.db.read() as conn:
            self.progress.head = await event_log.head(conn)

    async def _report_lag(self) -> None:
        now = time.monotonic()
        if now - self._lag_logged_at < self.settings.relay_lag_log_seconds:
            return
        self._lag_logged_at = now
        await self._refresh_head()
        log.info(
            "relay: published through position %d, log head %d, lag %d events",
            self.progress.published,
            self.progress.head,
            self.progress.lag,
        )

    def _backoff(self) -> Backoff:
        return Backoff(
            self.settings.relay_backoff_initial_seconds, self.settings.relay_backoff_max_seconds
        )


async def run_relay(settings: RelaySettings | Settings, stop: asyncio.Event | None = None) -> None:
    """Runs until `stop` is set (forever without one): standby or active, never giving up."""
    relay_settings = RelaySettings.of(settings)
    # One connection holds the lock; a batch's DataLoaders read on up to four at once.
    db = Database(relay_settings.database_url, pool_size=5)
    relay = Relay(relay_settings, db, stop or asyncio.Event())
    if relay_settings.relay_metrics_port is not None:
        serve_metrics(relay, relay_settings.relay_metrics_port)
    try:
        await relay.run()
    finally:
        await db.dispose()


def serve_metrics(relay: Relay, port: int) -> None:
    """The relay has no API of its own: its lag is served for Prometheus on `port`."""
    lag = Gauge("order_graph_relay_lag", "Events in the log not yet published to NATS.")
    lag.set_function(lambda: relay.progress.lag)
    published = Gauge("order_graph_relay_published_position", "Last position JetStream acked.")
    published.set_function(lambda: relay.progress.published)
    start_http_server(port)
