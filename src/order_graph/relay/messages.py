"""The two message shapes of each event, made by the GraphQL schema itself.

One `orderEvents` page per batch gives the skinny fields exactly as the API serialises them,
and `order { ...OrderFull }` runs the published fragment through the same resolvers and
DataLoaders, so a fat message is byte for byte what a client selecting OrderFull would get
(at publish time: like the API's fat events, it shows the order as it is now).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import orjson
from strawberry import Schema

from order_graph.api.context import Context
from order_graph.api.events import cursor_of, position_of
from order_graph.api.limits import Limits
from order_graph.api.schema import build_schema
from order_graph.domain.access import Principal
from order_graph.events import log as event_log
from order_graph.relay.subjects import Shape
from order_graph.service import OrderService
from order_graph.storage.database import Database

logger = logging.getLogger(__name__)

RELAY_ACTOR = "order-graph-relay"

SKINNY_FIELDS = (
    "cursor type orderId storeId version mainStatus subStatus previousMainStatus "
    "previousSubStatus actor occurredAt"
)

FRAGMENTS = resources.files("order_graph").joinpath("fragments.graphql").read_text()

BATCH_QUERY = f"""{FRAGMENTS}
query RelayBatch($after: String, $first: Int!) {{
  orderEvents(after: $after, first: $first) {{
    edges {{ node {{ {SKINNY_FIELDS} order {{ ...OrderFull }} }} }}
  }}
}}
"""


# The relay's own, trusted query: a page of up to 500 fat events costs far more than the limit
# that guards the public API (about 380 per event), so it runs on a schema with room for that.
_MAX_BATCH_COST = 500 * 500


@cache
def relay_schema() -> Schema:
    return build_schema(Limits(max_cost=_MAX_BATCH_COST))


class BatchQueryError(RuntimeError):
    """The schema could not produce a batch, typically because the database is unavailable."""


@dataclass(frozen=True, slots=True)
class EventMessages:
    position: int
    cursor: str
    order_id: str
    store_id: str
    event_type: str
    skinny: bytes
    fat: bytes

    def payload(self, shape: Shape) -> bytes:
        return self.fat if shape is Shape.FAT else self.skinny


def messages_of(node: dict[str, Any]) -> EventMessages:
    skinny = {name: value for name, value in node.items() if name != "order"}
    return EventMessages(
        position=position_of(node["cursor"]),
        cursor=node["cursor"],
        order_id=node["orderId"],
        store_id=node["storeId"],
        event_type=node["type"],
        skinny=orjson.dumps(skinny),
        fat=orjson.dumps({**skinny, "order": node["order"]}),
    )


async def _retained_after(db: Database, after: int) -> int:
    """`after`, or where the retained log starts if events after `after` were pruned unpublished
    (retention shorter than a relay outage): said loudly, then skipped, rather than stuck."""
    async with db.read() as conn:
        try:
            await event_log.check_resumable(conn, after)
        except event_log.CursorExpired:
            oldest = await event_log.oldest(conn)
            start = await event_log.head(conn) if oldest is None else oldest - 1
            logger.error(
                "relay: events after position %d were pruned before they were published; "
                "they will never reach NATS. Continuing after position %d.",
                after,
                start,
            )
            return start
    return after


async def read_batch(
    db: Database, service: OrderService, after: int, limit: int
) -> list[EventMessages]:
    """The messages of up to `limit` events after log position `after`, in log order."""
    # The relay runs outside any HTTP request, hence no request or response.
    context = Context(
        request=None,  # type: ignore[arg-type]
        response=None,
        db=db,
        service=service,
        principal=Principal.trusted(RELAY_ACTOR),
    )
    after = await _retained_after(db, after)
    variables = {"after": cursor_of(after) if after else None, "first": limit}
    result = await relay_schema().execute(
        BATCH_QUERY, variable_values=variables, context_value=context
    )
    if result.errors or result.data is None:
        messages = "; ".join(error.message for error in result.errors or [])
        raise BatchQueryError(f"orderEvents failed: {messages or 'no data'}")
    return [messages_of(edge["node"]) for edge in result.data["orderEvents"]["edges"]]
