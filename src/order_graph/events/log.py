"""Appending to and reading the event log.

A writer only inserts its event, with no position: it shares no row and no lock with the
writers of other orders, and sends no NOTIFY (which takes a cluster-wide lock at commit).
After commit the sequencer (events/sequencer.py) numbers the committed events, one pass at a
time, from the `event_counter` row that only it updates, and notifies listeners. Positions thus
become visible in increasing order and without holes, and a reader following
`position > cursor` can never skip an event that commits late: an event has no position at all
until it has committed. Readers see positioned events only (`position > cursor` is never true
of NULL). The cost: each event is written twice (inserted, then numbered), and it reaches
readers one sequencer pass after its commit.

On SQLite writers are serialised anyway (Database.write queues them), so there the writer
numbers its own event inside its transaction: the counter row costs no concurrency that exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from order_graph.domain.model import EventRecord, EventType, OrderRecord
from order_graph.storage import codes, driver
from order_graph.storage.tables import event_counter, order_events

COUNTER_ID = 1
CHANNEL = "order_events"  # the sequencer's function (migration 0006) NOTIFYs on it
_COLUMNS = [order_events.c[name] for name in EventRecord.__dataclass_fields__]
_NEXT_POSITION = (
    update(event_counter)
    .where(event_counter.c.id == COUNTER_ID)
    .values(position=event_counter.c.position + 1)
    .returning(event_counter.c.position)
)


@dataclass(frozen=True, slots=True)
class EventQuery:
    store_ids: Sequence[str] | None = None
    order_ids: Sequence[int] | None = None
    types: Sequence[EventType] | None = None


async def append(
    conn: AsyncConnection,
    event_type: EventType,
    before: OrderRecord | None,
    after: OrderRecord,
    actor: str,
) -> None:
    """Records the event of one change, in the change's transaction."""
    values: dict[str, Any] = {
        "position": None,  # the sequencer's to assign, after commit
        "type": event_type,
        "order_id": after.id,
        "store_id": after.store_id,
        "version": after.version,
        "main_status": after.main_status,
        "sub_status": after.sub_status,
        "previous_main_status": before.main_status if before else None,
        "previous_sub_status": before.sub_status if before else None,
        "actor": actor,
        "occurred_at": after.updated_at,
    }
    pg = await driver.of(conn)
    if pg is not None:  # a fixed statement, prepared once per connection (storage/driver.py)
        await pg.execute(_PG_APPEND, *(values[name] for name in _APPENDED))
        return
    if conn.dialect.name == "sqlite":
        values["position"] = (await conn.execute(_NEXT_POSITION)).scalar_one()
    await conn.execute(insert(order_events), values)


# Without `position`: NULL until the sequencer numbers the event.
_APPENDED = (
    "type", "order_id", "store_id", "version", "main_status", "sub_status",
    "previous_main_status", "previous_sub_status", "actor", "occurred_at",
)  # fmt: skip
_PG_APPEND = (
    f"INSERT INTO order_events ({', '.join(_APPENDED)}) "
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(_APPENDED) + 1))})"
)


def event_from_row(row: Row[Any]) -> EventRecord:
    values = row._asdict()
    values["type"] = codes.EVENT_TYPE[values["type"]]
    values["main_status"] = codes.MAIN_STATUS[values["main_status"]]
    values["previous_main_status"] = codes.MAIN_STATUS_OR_NONE[values["previous_main_status"]]
    return EventRecord(**values)


def matches(query: EventQuery, event: EventRecord) -> bool:
    return (
        (query.store_ids is None or event.store_id in query.store_ids)
        and (query.order_ids is None or event.order_id in query.order_ids)
        and (query.types is None or event.type in query.types)
    )


async def read_after(
    conn: AsyncConnection, after: int, query: EventQuery, limit: int, upto: int | None = None
) -> list[EventRecord]:
    """Events with `after < position <= upto` that match, oldest first."""
    conditions = [order_events.c.position > after]
    if upto is not None:
        conditions.append(order_events.c.position <= upto)
    if query.store_ids is not None:
        conditions.append(order_events.c.store_id.in_(list(query.store_ids)))
    if query.order_ids is not None:
        conditions.append(order_events.c.order_id.in_(list(query.order_ids)))
    if query.types is not None:
        conditions.append(order_events.c.type.in_(list(query.types)))
    statement = (
        select(*_COLUMNS).where(and_(*conditions)).order_by(order_events.c.position).limit(limit)
    )
    return [event_from_row(row) for row in await conn.execute(statement)]


async def head(conn: AsyncConnection) -> int:
    """The newest position (0 when nothing was ever written).

    Every position up to it is committed and visible: the counter moves in the transaction
    that assigns the positions, one sequencer pass after another.
    """
    statement = select(event_counter.c.position).where(event_counter.c.id == COUNTER_ID)
    return int((await conn.execute(statement)).scalar_one())


async def oldest(conn: AsyncConnection) -> int | None:
    """The oldest retained position, or None when the log holds nothing."""
    value = (await conn.execute(select(func.min(order_events.c.position)))).scalar_one()
    return None if value is None else int(value)


class CursorExpired(Exception):
    """Events after the cursor were pruned: resuming from it would silently skip them."""


class CursorAhead(Exception):
    """The cursor is past the newest event: it comes from another database."""


async def check_resumable(conn: AsyncConnection, after: int) -> None:
    newest = await head(conn)
    if after > newest:
        raise CursorAhead(after)
    first = await oldest(conn)
    retained_from = newest + 1 if first is None else first
    if after < retained_from - 1:
        raise CursorExpired(after)


async def prune(conn: AsyncConnection, before: datetime) -> int:
    """Deletes a prefix of the log: everything up to the newest event older than `before`.

    By position, not by time alone: timestamps are taken before positions are assigned, so
    deleting by time could leave a hole that an older cursor would not be told about. Events
    still waiting for a position are never deleted (`position <= boundary` is not true of NULL).
    """
    boundary = (
        await conn.execute(
            select(func.max(order_events.c.position)).where(order_events.c.occurred_at < before)
        )
    ).scalar_one()
    if boundary is None:
        return 0
    result = await conn.execute(delete(order_events).where(order_events.c.position <= boundary))
    return result.rowcount
