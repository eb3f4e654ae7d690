"""Deadline rules, and the pending deadlines of each order (one row per order and rule).

The rows follow the orders' main statuses: `enter` replaces an order's rows in the transaction
that moves it (or creates it), `backfill` writes a new rule's rows for the orders already in
its status. A rule's definition or removal and a status change into or out of that rule's
status must not interleave, or an order could miss a new rule or keep a removed one: on
PostgreSQL a status change takes a shared transaction-level advisory lock per main status it
leaves or enters, and defining or removing a rule takes that status's lock exclusively.
Status changes never wait for each other; they wait only while a rule of their status is
being defined or removed. SQLite runs one writer at a time, so it needs no lock.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    BigInteger,
    Select,
    and_,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from order_graph.domain import deadlines
from order_graph.domain.deadlines import Deadline, DeadlineActionKind, DeadlineRule, RuleDraft
from order_graph.domain.model import OrderRecord
from order_graph.domain.status import MainStatus
from order_graph.storage import codes, driver
from order_graph.storage.tables import deadline_rules as rules
from order_graph.storage.tables import order_deadlines as pending
from order_graph.storage.tables import orders, status_changes

ACTION = {member.value: member for member in DeadlineActionKind}
_INSERT_CHUNK = 1_000
_RULE_COLUMNS = (
    rules.c.id,
    rules.c.code,
    rules.c.main_status,
    rules.c.channel,
    rules.c.fulfillment_type,
    rules.c.after_seconds,
    rules.c.action,
    rules.c.target,
    rules.c.reason,
    rules.c.defined_by,
    rules.c.defined_at,
)


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key."""
    digest = hashlib.sha256(f"order-graph-deadlines:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def rule_from_row(row: Any) -> DeadlineRule:
    draft = RuleDraft(
        code=row.code,
        main_status=codes.MAIN_STATUS[row.main_status],
        channel=None if row.channel is None else codes.CHANNEL[row.channel],
        fulfillment_type=(
            None if row.fulfillment_type is None else codes.FULFILLMENT_TYPE[row.fulfillment_type]
        ),
        after_seconds=row.after_seconds,
        action=ACTION[row.action],
        target=row.target,
        reason=row.reason,
    )
    return DeadlineRule(row.id, draft, row.defined_by, row.defined_at)


async def list_rules(
    conn: AsyncConnection, main_status: MainStatus | None = None
) -> list[DeadlineRule]:
    statement = select(*_RULE_COLUMNS).order_by(rules.c.main_status, rules.c.code)
    if main_status is not None:
        statement = statement.where(rules.c.main_status == main_status)
    return [rule_from_row(row) for row in await conn.execute(statement)]


async def rule_by_code(conn: AsyncConnection, code: str) -> DeadlineRule | None:
    row = (await conn.execute(select(*_RULE_COLUMNS).where(rules.c.code == code))).first()
    return None if row is None else rule_from_row(row)


def _locking(statuses: Sequence[MainStatus], exclusive: bool = False) -> Select[Any]:
    """PostgreSQL's advisory locks of these statuses, held until the transaction ends."""
    function = func.pg_advisory_xact_lock if exclusive else func.pg_advisory_xact_lock_shared
    keys = sorted({lock_key(status.value) for status in statuses})
    return select(*(function(literal(key, BigInteger)) for key in keys))


async def lock_statuses(
    conn: AsyncConnection, statuses: Sequence[MainStatus], exclusive: bool = False
) -> None:
    """See the module's docstring; SQLite needs no lock."""
    if conn.dialect.name == "postgresql" and statuses:
        await conn.execute(_locking(statuses, exclusive))


async def insert_rule(
    conn: AsyncConnection, draft: RuleDraft, defined_by: str, now: datetime
) -> DeadlineRule:
    """Stores the rule and the deadlines it sets for the orders already in its status."""
    await lock_statuses(conn, [draft.main_status], exclusive=True)
    values = {
        "code": draft.code,
        "main_status": draft.main_status,
        "channel": draft.channel,
        "fulfillment_type": draft.fulfillment_type,
        "after_seconds": draft.after_seconds,
        "action": draft.action,
        "target": draft.target,
        "reason": draft.reason,
        "defined_by": defined_by,
        "defined_at": now,
    }
    rule_id = (await conn.execute(insert(rules).returning(rules.c.id), values)).scalar_one()
    rule = DeadlineRule(rule_id, draft, defined_by, now)
    await _backfill(conn, rule)
    return rule


async def _backfill(conn: AsyncConnection, rule: DeadlineRule) -> None:
    """When each order now in the rule's status entered it: its one history entry that moved
    it there (main statuses never repeat)."""
    status = rule.main_status
    entered = func.max(status_changes.c.occurred_at).label("entered")
    statement = (
        select(orders.c.id, orders.c.store_id, orders.c.channel, orders.c.fulfillment_type, entered)
        .join(status_changes, status_changes.c.order_id == orders.c.id)
        .where(
            orders.c.main_status == status,
            status_changes.c.to_main_status == status,
            or_(
                status_changes.c.from_main_status.is_(None),
                status_changes.c.from_main_status != status,
            ),
        )
        .group_by(orders.c.id, orders.c.store_id, orders.c.channel, orders.c.fulfillment_type)
    )
    rows = [
        {
            "order_id": row.id,
            "rule_id": rule.id,
            "store_id": row.store_id,
            "due_at": deadlines.due_at(rule, row.entered),
        }
        for row in await conn.execute(statement)
        if deadlines.matches(
            rule,
            status,
            codes.CHANNEL[row.channel],
            codes.FULFILLMENT_TYPE[row.fulfillment_type],
        )
    ]
    for start in range(0, len(rows), _INSERT_CHUNK):
        await conn.execute(insert(pending), rows[start : start + _INSERT_CHUNK])


async def delete_rule(conn: AsyncConnection, rule: DeadlineRule) -> None:
    await lock_statuses(conn, [rule.main_status], exclusive=True)
    await conn.execute(delete(pending).where(pending.c.rule_id == rule.id))
    await conn.execute(delete(rules).where(rules.c.id == rule.id))


async def enter(
    conn: AsyncConnection, order: OrderRecord, left: MainStatus | None, entered_at: datetime
) -> None:
    """The order entered its current main status, leaving `left` (None: it was just created).
    Its pending deadlines become those of the rules that apply to it there. No rule applies to
    a final status, so entering one takes no lock and reads no rule."""
    timed = [s for s in (left, order.main_status) if s is not None and deadlines.can_have(s)]
    pg = await driver.of(conn)
    if pg is not None:  # the same statements, on the driver (storage/driver.py)
        keys = sorted({lock_key(status.value) for status in timed})
        if keys or left is not None:
            sql = _pg_entering(len(keys), left is not None)
            await pg.execute(sql, *keys, *(() if left is None else (order.id,)))
        if not deadlines.can_have(order.main_status):
            return
        rows = await pg.fetch(_PG_RULES, order.main_status)
        found = [rule_from_row(SimpleNamespace(**dict(row))) for row in rows]
    else:
        gone = None if left is None else delete(pending).where(pending.c.order_id == order.id)
        if conn.dialect.name == "postgresql" and timed:
            # One round trip: the old deadlines go in the statement that takes the locks.
            lock = _locking(timed)
            await conn.execute(lock if gone is None else lock.add_cte(gone.cte("gone")))
        elif gone is not None:
            await conn.execute(gone)
        if not deadlines.can_have(order.main_status):
            return
        found = await list_rules(conn, order.main_status)
    applying = [rule for rule in found if deadlines.applies(rule, order)]
    if applying:
        entries = [
            {
                "order_id": order.id,
                "rule_id": rule.id,
                "store_id": order.store_id,
                "due_at": deadlines.due_at(rule, entered_at),
            }
            for rule in applying
        ]
        await conn.execute(insert(pending), entries)


_PG_RULES = (
    f"SELECT {', '.join(column.name for column in _RULE_COLUMNS)} FROM deadline_rules "
    "WHERE main_status = $1 ORDER BY code"
)


@cache
def _pg_entering(locks: int, leaving: bool) -> str:
    """Takes the shared locks (in key order) and drops the order's old deadlines."""
    taken = ", ".join(f"pg_advisory_xact_lock_shared(${n}::bigint)" for n in range(1, locks + 1))
    if not leaving:
        return f"SELECT {taken}"
    gone = f"DELETE FROM order_deadlines WHERE order_id = ${locks + 1}"
    return f"WITH gone AS ({gone}) SELECT {taken or 1}"


_PENDING = select(pending.c.order_id, pending.c.due_at, *_RULE_COLUMNS).join(
    rules, rules.c.id == pending.c.rule_id
)


def _deadline(row: Any) -> Deadline:
    return Deadline(row.order_id, rule_from_row(row), row.due_at)


async def due(
    conn: AsyncConnection, now: datetime, after: Deadline | None, limit: int
) -> list[Deadline]:
    """Deadlines due at `now`, oldest first, after `after` in that order."""
    key = tuple_(pending.c.due_at, pending.c.order_id, pending.c.rule_id)
    conditions = [pending.c.due_at <= now]
    if after is not None:
        conditions.append(key > tuple_(after.at, after.order_id, after.rule.id))
    statement = (
        _PENDING.where(and_(*conditions))
        .order_by(pending.c.due_at, pending.c.order_id, pending.c.rule_id)
        .limit(limit)
    )
    return [_deadline(row) for row in await conn.execute(statement)]


async def pending_one(conn: AsyncConnection, order_id: int, rule_id: int) -> Deadline | None:
    statement = _PENDING.where(pending.c.order_id == order_id, pending.c.rule_id == rule_id)
    row = (await conn.execute(statement)).first()
    return None if row is None else _deadline(row)


async def forget(conn: AsyncConnection, order_id: int, rule_id: int) -> None:
    await conn.execute(
        delete(pending).where(pending.c.order_id == order_id, pending.c.rule_id == rule_id)
    )


async def by_orders(conn: AsyncConnection, order_ids: Sequence[int]) -> dict[int, list[Deadline]]:
    grouped: dict[int, list[Deadline]] = defaultdict(list)
    for row in await conn.execute(_PENDING.where(pending.c.order_id.in_(list(order_ids)))):
        grouped[row.order_id].append(_deadline(row))
    return grouped


def due_before(before: datetime, store_ids: Sequence[str] | None) -> Any:
    """The ids of orders with a deadline due before `before`, as a subquery for order lists."""
    statement = select(pending.c.order_id).where(pending.c.due_at <= before)
    if store_ids is not None:
        statement = statement.where(pending.c.store_id.in_(list(store_ids)))
    return statement
