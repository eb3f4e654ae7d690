"""What firing one deadline does, decided under the order's row lock inside
`OrderService._change`, which then records the change, its history entry (actor
`system:deadline`, the rule's reason) and its event in the same transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from order_graph.domain import deadlines
from order_graph.domain.access import Principal
from order_graph.domain.deadlines import Deadline, DeadlineActionKind
from order_graph.domain.model import Change, EventType, OrderRecord
from order_graph.storage import deadlines as store
from order_graph.storage import sub_statuses

ACTOR = Principal.trusted(deadlines.ACTOR)


async def decide(
    conn: AsyncConnection, order: OrderRecord, deadline: Deadline, now: datetime
) -> Change:
    """The deadline's change, if it is still pending (not fired yet, the order still in the
    rule's status, the rule not removed) and due; otherwise a change of nothing."""
    rule = deadline.rule
    nothing = Change(EventType.UPDATED)  # no values: no new version, no event
    # The rule's removal either commits before this reads the deadline, or waits for it.
    await store.lock_statuses(conn, [rule.main_status])
    if not deadlines.is_due(await store.pending_one(conn, order.id, rule.id), now):
        return nothing
    known: set[str] = set()
    if rule.draft.action is DeadlineActionKind.SET_SUB_STATUS:
        known = await sub_statuses.codes_for(conn, order.main_status)
    change = deadlines.fire(rule, order, known)
    if change is None or "main_status" not in change.values:
        # A move replaces all the order's deadlines (in `_apply`); anything else does not.
        await store.forget(conn, order.id, rule.id)
    return change or nothing
