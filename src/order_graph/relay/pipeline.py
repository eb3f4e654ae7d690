"""Publishing a batch with many messages in flight, keeping what one-at-a-time publishing kept.

One JetStream round trip per message caps the relay at what the round trip allows. Here up to
`window` messages are in flight at once (nats-py's `publish_async`), sent in log order on one
connection, so JetStream stores them in log order; acks are awaited oldest first. What that
would lose, and how it is kept:

- **Per-order order.** A refused message (a stream limit, JetStream busy) could leave a gap
  that later messages of the same order fill before the retry. So an event is not sent while
  an earlier event of the same order is still unacknowledged: the pipeline waits for that ack
  first (a short stall, only when one order changes twice within a window).
- **Exactly once, no gap.** Progress is the last event whose messages, and all before them,
  were acknowledged: the relay saves only that, and on any failure it drains what is in flight
  and reports it. A gap (a message missing while a later one was stored) means "everything
  before the stream's newest message is in it" no longer holds, so `PublishFailed.gap` tells
  the relay to republish from its saved progress rather than after the stream's newest
  message; the messages stored meanwhile are dropped by their Nats-Msg-Id. One case is left:
  a relay that dies between such a refusal and its retry, replaced after more than the
  duplicate window, resumes after the stream's newest message and would skip the refused one.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from order_graph.relay.messages import EventMessages
from order_graph.relay.publisher import Publisher
from order_graph.relay.subjects import Shape


class PublishFailed(Exception):
    """A message of the batch was not acknowledged. `acked` is the newest position whose
    messages, and every earlier one of the batch, were; `gap`: a later message was stored."""

    def __init__(self, reason: str, acked: int | None, gap: bool) -> None:
        super().__init__(reason)
        self.acked = acked
        self.gap = gap


@dataclass(slots=True)
class _Sent:
    event: EventMessages
    acks: list[asyncio.Future[None]] = field(default_factory=list)


async def publish_batch(
    publisher: Publisher,
    events: Sequence[EventMessages],
    skip: frozenset[tuple[int, Shape]],
    window: int,
) -> int | None:
    """Publishes each event's messages (but those in `skip`); returns the last position."""
    in_flight: deque[_Sent] = deque()
    unacked: Counter[str] = Counter()  # events in flight, per order
    messages = 0
    acked: int | None = None

    async def settle_oldest() -> None:
        nonlocal acked, messages
        sent = in_flight[0]
        for ack in sent.acks:
            await asyncio.wait_for(ack, publisher.ack_timeout)
        in_flight.popleft()
        messages -= len(sent.acks)
        unacked[sent.event.order_id] -= 1
        acked = sent.event.position

    try:
        for event in events:
            while in_flight and (unacked[event.order_id] or messages + len(Shape) > window):
                await settle_oldest()
            sent = _Sent(event)
            in_flight.append(sent)
            unacked[event.order_id] += 1
            for shape in Shape:
                if (event.position, shape) not in skip:
                    sent.acks.append(await publisher.publish_async(event, shape))
                    messages += 1
        while in_flight:
            await settle_oldest()
    except Exception as exc:  # NatsUnavailable, a refusal, a timeout: all reported alike
        gap = await _gap(in_flight, publisher.ack_timeout)
        raise PublishFailed(str(exc) or type(exc).__name__, acked, gap) from exc
    return acked


async def _gap(in_flight: deque[_Sent], patience: float) -> bool:
    """Waits for the messages still in flight after a failure (together, for one timeout):
    whether any of them was stored after one that was not."""
    acks = [ack for sent in in_flight for ack in sent.acks]
    if acks:
        await asyncio.wait(acks, timeout=patience)
    failed = stored_after = False
    for ack in acks:
        if not ack.done():
            ack.cancel()
        if ack.cancelled() or ack.exception() is not None:
            failed = True
        elif failed:
            stored_after = True
    return stored_after
