"""JetStream: the stream, publishing with message ids, and what the stream already holds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import nats
import nats.errors
import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import APIError, NotFoundError, ServiceUnavailableError

from order_graph.api.events import position_of
from order_graph.relay import subjects
from order_graph.relay.messages import EventMessages
from order_graph.relay.settings import RelaySettings
from order_graph.relay.subjects import Shape

log = logging.getLogger(__name__)

# What "NATS is not there right now" looks like from nats-py: refused or dropped connections,
# timeouts, and JetStream API errors while the server is starting up.
_NATS_ERRORS = (nats.errors.Error, OSError, TimeoutError)


class NatsUnavailable(Exception):
    pass


class StreamMisconfigured(Exception):
    """The stream cannot be created as configured, or exists without the relay's subjects:
    retrying will not help, so the relay stops."""


@dataclass(frozen=True, slots=True)
class LastPublished:
    position: int
    shape: Shape


class Publisher:
    def __init__(
        self, js: JetStreamContext, settings: RelaySettings, acks: Acks | None = None
    ) -> None:
        self._js = js
        self._acks = acks
        self._settings = settings
        self._stream = settings.nats_stream
        self._prefix = settings.nats_subject_prefix

    async def ensure_stream(self) -> None:
        wanted = subjects.stream_subjects(self._prefix)
        try:
            try:
                info = await self._js.stream_info(self._stream)
            except NotFoundError:
                await self._js.add_stream(self._stream_config(wanted))
                log.info("created stream %s for %s", self._stream, ", ".join(wanted))
                return
        except ServiceUnavailableError as exc:  # JetStream still starting up
            raise NatsUnavailable(str(exc)) from exc
        except APIError as exc:
            # The server refused the stream's configuration: retrying cannot fix that.
            raise StreamMisconfigured(f"cannot create stream {self._stream}: {exc}") from exc
        except _NATS_ERRORS as exc:
            raise NatsUnavailable(str(exc) or type(exc).__name__) from exc
        if not set(wanted) <= set(info.config.subjects or []):
            raise StreamMisconfigured(
                f"stream {self._stream} exists but does not take {', '.join(wanted)}"
            )

    def _stream_config(self, wanted: list[str]) -> StreamConfig:
        return StreamConfig(
            name=self._stream,
            description="order-graph change events (skinny and fat), published by the relay",
            subjects=wanted,
            storage=StorageType.FILE,
            max_age=self._settings.max_age_seconds,
            max_bytes=self._settings.nats_max_bytes,
            num_replicas=self._settings.nats_replicas,
            duplicate_window=self._settings.nats_duplicate_window_seconds,
        )

    async def last_published(self) -> LastPublished | None:
        """The newest relay message in the stream, read when a relay takes over.

        Publishing is strictly sequential, so everything before this message is in the stream
        too. This lets a relay resume exactly even when it crashed between JetStream's ack and
        saving its position longer ago than the duplicate window.
        """
        try:
            info = await self._js.stream_info(self._stream)
            if not info.state.last_seq:
                return None
            try:
                message = await self._js.get_msg(self._stream, seq=info.state.last_seq)
            except NotFoundError:  # expired or deleted
                return None
        except _NATS_ERRORS as exc:
            raise NatsUnavailable(str(exc) or type(exc).__name__) from exc
        parsed = subjects.parse_msg_id((message.headers or {}).get("Nats-Msg-Id", ""))
        if parsed is None:
            return None
        cursor, shape = parsed
        return LastPublished(position_of(cursor), shape)

    async def publish_async(self, event: EventMessages, shape: Shape) -> asyncio.Future[None]:
        """Sends the message and returns at once: the future is JetStream's ack (or refusal)."""
        assert self._acks is not None, "made by connected()"
        subject, headers = self._address(event, shape)
        headers["Nats-Expected-Stream"] = self._stream
        try:
            return await self._acks.publish(subject, event.payload(shape), headers)
        except _NATS_ERRORS as exc:
            raise NatsUnavailable(str(exc) or type(exc).__name__) from exc

    def _address(self, event: EventMessages, shape: Shape) -> tuple[str, dict[str, str]]:
        """The subject and the dedup id: JetStream keeps one message per event and shape."""
        subject = subjects.subject(self._prefix, shape, event.store_id, event.event_type)
        return subject, {"Nats-Msg-Id": subjects.msg_id(event.cursor, shape)}

    @property
    def ack_timeout(self) -> float:
        return self._settings.nats_timeout_seconds

    async def publish(self, event: EventMessages, shape: Shape) -> None:
        """One message, awaiting its ack (the one-at-a-time way, kept for comparison)."""
        subject, headers = self._address(event, shape)
        try:
            await self._js.publish(
                subject,
                event.payload(shape),
                timeout=self._settings.nats_timeout_seconds,
                stream=self._stream,
                headers=headers,
            )
        except _NATS_ERRORS as exc:
            raise NatsUnavailable(str(exc) or type(exc).__name__) from exc


class Refused(Exception):
    """JetStream refused a message (a stream limit, a wrong stream): it is not stored."""


class Acks:
    """JetStream's acks of asynchronous publishes, on one reply subscription.

    nats-py has `publish_async`, but its reply handler raises on a refusal with status 503 (a
    stream limit says "maximum messages exceeded" so) instead of failing the ack's future,
    which then never completes; here every reply settles its future."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._futures: dict[str, asyncio.Future[None]] = {}
        self._inbox = ""
        self._sent = 0

    async def start(self) -> None:
        self._inbox = self._client.new_inbox()
        await self._client.subscribe(f"{self._inbox}.*", cb=self._reply)

    async def publish(
        self, subject: str, payload: bytes, headers: dict[str, str]
    ) -> asyncio.Future[None]:
        self._sent += 1
        token = str(self._sent)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._futures[token] = future
        future.add_done_callback(lambda _: self._futures.pop(token, None))  # also when given up
        await self._client.publish(
            subject, payload, reply=f"{self._inbox}.{token}", headers=headers
        )
        return future

    async def _reply(self, msg: Msg) -> None:
        future = self._futures.get(msg.subject.rpartition(".")[2])
        if future is None or future.done():
            return
        if msg.headers and msg.headers.get("Status") == "503":
            future.set_exception(NatsUnavailable("JetStream has no responder for the stream"))
            return
        try:
            answer = orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            future.set_exception(NatsUnavailable(f"not an ack: {msg.data[:200]!r}"))
            return
        error = answer.get("error") if isinstance(answer, dict) else "not an ack"
        if error:
            future.set_exception(Refused(str(error)))
        else:
            future.set_result(None)


async def _quiet(exc: Exception) -> None:
    # nats-py reports connection trouble here and raises it too; the relay logs it once.
    log.debug("nats: %s", exc)


@asynccontextmanager
async def connected(settings: RelaySettings) -> AsyncIterator[Publisher]:
    """One NATS connection. The relay reconnects itself, with its own backoff and logging, so
    nats-py's reconnecting is off: a refused connection fails after one quick second try
    (nats-py's `max_reconnect_attempts` also bounds the first connect, and 0 means forever)."""
    try:
        client: Client = await asyncio.wait_for(
            nats.connect(
                servers=[settings.nats_url],
                name="order-graph-relay",
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=0,
                connect_timeout=max(1, round(settings.nats_timeout_seconds)),
                error_cb=_quiet,
            ),
            timeout=3 * settings.nats_timeout_seconds,
        )
    except _NATS_ERRORS as exc:
        raise NatsUnavailable(str(exc) or type(exc).__name__) from exc
    try:
        acks = Acks(client)
        await acks.start()
        yield Publisher(client.jetstream(timeout=settings.nats_timeout_seconds), settings, acks)
    finally:
        if not client.is_closed:
            await client.close()
