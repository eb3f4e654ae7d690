"""Deadline rules: what happens to an order left too long in one main status.

A rule says: an order in main status S (optionally only of channel C and fulfilment type F)
that is still in S `after_seconds` after entering it gets one action, either a move to another
main status the transition table allows from S, or a sub-status of S. Every rule that matches
an order applies to it, each at its own time; a move ends the order's time in S, and with it
the rules of S that have not fired yet. Sub-status changes and updates do not.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from order_graph.domain import lifecycle
from order_graph.domain.errors import ErrorCode, OrderError, Rejected
from order_graph.domain.model import Change, Channel, FulfillmentType, OrderRecord
from order_graph.domain.status import MainStatus, allowed_transitions, is_valid_sub_status_code
from order_graph.domain.validation import INPUT, Checker, unknown_sub_status

ACTOR = "system:deadline"
MAX_AFTER_SECONDS = 30 * 24 * 60 * 60
MAX_DUE_WITHIN_MINUTES = MAX_AFTER_SECONDS // 60
CODE_RULE = "upper snake case (e.g. UNPAID_TIMEOUT), at most 64 characters"


class DeadlineActionKind(StrEnum):
    MOVE = "MOVE"
    SET_SUB_STATUS = "SET_SUB_STATUS"


@dataclass(frozen=True, slots=True)
class DefineDeadline:
    """A rule as an admin client sent it, before validation."""

    code: str
    main_status: MainStatus
    after_seconds: int
    reason: str
    channel: Channel | None = None
    fulfillment_type: FulfillmentType | None = None
    move_to: MainStatus | None = None
    set_sub_status: str | None = None


@dataclass(frozen=True, slots=True)
class RuleDraft:
    code: str
    main_status: MainStatus
    channel: Channel | None
    fulfillment_type: FulfillmentType | None
    after_seconds: int
    action: DeadlineActionKind
    # MOVE: the main status to move to. SET_SUB_STATUS: the sub-status of `main_status` to set.
    target: str
    reason: str


@dataclass(frozen=True, slots=True)
class DeadlineRule:
    """A stored rule. Rules never change: redefining one means removing it first."""

    id: int
    draft: RuleDraft
    defined_by: str
    defined_at: datetime

    @property
    def code(self) -> str:
        return self.draft.code

    @property
    def main_status(self) -> MainStatus:
        return self.draft.main_status


@dataclass(frozen=True, slots=True)
class Deadline:
    """One rule's pending deadline for one order."""

    order_id: int
    rule: DeadlineRule
    at: datetime


def validate(command: DefineDeadline, known_sub_statuses: Collection[str]) -> RuleDraft:
    """The rule to store, or every problem with it, each at its input field."""
    check = Checker()
    if not is_valid_sub_status_code(command.code):
        check.fail(f"A rule code is {CODE_RULE}.", (*INPUT, "code"))
    if not is_valid_sub_status_code(command.reason):
        check.fail(f"A reason code is {CODE_RULE}.", (*INPUT, "reason"))
    if not 1 <= command.after_seconds <= MAX_AFTER_SECONDS:
        check.fail(
            f"afterSeconds is from 1 to {MAX_AFTER_SECONDS} (30 days).", (*INPUT, "afterSeconds")
        )
    allowed = allowed_transitions(command.main_status)
    if not can_have(command.main_status):
        check.fail(
            f"{command.main_status} is final: no deadline can apply to it.",
            (*INPUT, "mainStatus"),
        )
    action, target = _action(check, command, allowed, known_sub_statuses)
    check.raise_if_any()
    return RuleDraft(
        command.code,
        command.main_status,
        command.channel,
        command.fulfillment_type,
        command.after_seconds,
        action,
        target,
        command.reason,
    )


def _action(
    check: Checker,
    command: DefineDeadline,
    allowed: tuple[MainStatus, ...],
    known_sub_statuses: Collection[str],
) -> tuple[DeadlineActionKind, str]:
    move_to, sub_status = command.move_to, command.set_sub_status
    if (move_to is None) == (sub_status is None):
        check.fail("Give exactly one action: moveTo or setSubStatus.", (*INPUT, "moveTo"))
        return DeadlineActionKind.MOVE, ""
    if move_to is not None:
        if allowed and move_to not in allowed:
            check.errors.append(
                OrderError(
                    ErrorCode.INVALID_TRANSITION,
                    f"An order in {command.main_status} cannot move to {move_to}.",
                    (*INPUT, "moveTo"),
                    allowed_transitions=allowed,
                )
            )
        return DeadlineActionKind.MOVE, move_to.value
    assert sub_status is not None
    if sub_status not in known_sub_statuses:
        path = (*INPUT, "setSubStatus")
        check.errors.append(unknown_sub_status(sub_status, command.main_status, path))
    return DeadlineActionKind.SET_SUB_STATUS, sub_status


def can_have(status: MainStatus) -> bool:
    """Only a status an order can leave has deadlines: a final one has nothing left to time."""
    return bool(allowed_transitions(status))


def same_rule(existing: DeadlineRule, draft: RuleDraft) -> None:
    """Defining a rule again is a no-op; defining other settings under its code is refused."""
    if existing.draft != draft:
        raise Rejected.one(
            ErrorCode.VALIDATION,
            f"A deadline rule {draft.code} exists with other settings; remove it first.",
            (*INPUT, "code"),
        )


def applies(rule: DeadlineRule, order: OrderRecord) -> bool:
    return matches(rule, order.main_status, order.channel, order.fulfillment_type)


def matches(
    rule: DeadlineRule, status: MainStatus, channel: Channel, fulfillment_type: FulfillmentType
) -> bool:
    draft = rule.draft
    return (
        draft.main_status is status
        and (draft.channel is None or draft.channel is channel)
        and (draft.fulfillment_type is None or draft.fulfillment_type is fulfillment_type)
    )


def due_at(rule: DeadlineRule, entered_at: datetime) -> datetime:
    return entered_at + timedelta(seconds=rule.draft.after_seconds)


def next_of(deadlines: Collection[Deadline]) -> Deadline | None:
    """The deadline an order meets first (ties by rule code, so the answer is stable)."""
    return min(deadlines, key=lambda d: (d.at, d.rule.code), default=None)


def is_due(deadline: Deadline | None, now: datetime) -> bool:
    """False too when the deadline is gone: it fired, the order moved on, the rule was removed."""
    return deadline is not None and deadline.at <= now


def fire(rule: DeadlineRule, order: OrderRecord, known: Collection[str]) -> Change | None:
    """What a due deadline of `rule` does to the order as it now stands; None when the rule does
    not apply to it (any more)."""
    if not applies(rule, order):
        return None
    draft = rule.draft
    match draft.action:
        case DeadlineActionKind.MOVE:
            return lifecycle.transition(order, MainStatus(draft.target), None, ())
        case DeadlineActionKind.SET_SUB_STATUS:
            return lifecycle.set_sub_status(order, draft.target, known)
