"""The deadline rules' own decisions: which orders a rule applies to, when, and what it does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from order_graph.domain import deadlines
from order_graph.domain.deadlines import Deadline, DeadlineRule, DefineDeadline
from order_graph.domain.errors import ErrorCode, Rejected
from order_graph.domain.model import Channel, FulfillmentType
from order_graph.domain.status import MainStatus
from tests.unit.builders import an_order

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def a_rule(rule_id: int = 1, **fields: object) -> DeadlineRule:
    values: dict[str, object] = {
        "code": "UNPAID_TIMEOUT",
        "main_status": MainStatus.CREATED,
        "after_seconds": 900,
        "reason": "PAYMENT_TIMEOUT",
        "move_to": MainStatus.CANCELLED,
    }
    values.update(fields)
    known = {"ACCEPT_OVERDUE"}
    draft = deadlines.validate(DefineDeadline(**values), known)  # type: ignore[arg-type]
    return DeadlineRule(rule_id, draft, "tests", NOW)


def test_a_rule_applies_in_its_status_only() -> None:
    rule = a_rule()
    assert deadlines.applies(rule, an_order(main_status=MainStatus.CREATED))
    assert not deadlines.applies(rule, an_order(main_status=MainStatus.PAID))


def test_channel_and_fulfilment_type_narrow_a_rule() -> None:
    dine_in, pickup = FulfillmentType.DINE_IN, FulfillmentType.PICKUP
    rule = a_rule(channel=Channel.POS, fulfillment_type=dine_in)
    assert deadlines.applies(rule, an_order(channel=Channel.POS, fulfillment_type=dine_in))
    assert not deadlines.applies(rule, an_order(channel=Channel.APP, fulfillment_type=dine_in))
    assert not deadlines.applies(rule, an_order(channel=Channel.POS, fulfillment_type=pickup))


def test_a_deadline_is_due_at_its_time_not_a_moment_before() -> None:
    rule = a_rule()
    deadline = Deadline(1, rule, deadlines.due_at(rule, NOW))
    assert deadline.at == NOW + timedelta(minutes=15)
    assert not deadlines.is_due(deadline, deadline.at - timedelta(microseconds=1))
    assert deadlines.is_due(deadline, deadline.at)
    assert not deadlines.is_due(None, deadline.at)


def test_the_next_deadline_is_the_earliest_and_ties_go_by_rule_code() -> None:
    early, tie_a, tie_b = a_rule(1, code="Z_EARLY"), a_rule(2, code="A_TIE"), a_rule(3, code="B")
    pending = [
        Deadline(1, tie_b, NOW + timedelta(minutes=5)),
        Deadline(1, early, NOW),
        Deadline(1, tie_a, NOW + timedelta(minutes=5)),
    ]
    assert deadlines.next_of(pending) == pending[1]
    assert deadlines.next_of(pending[::2]) == pending[2]
    assert deadlines.next_of([]) is None


def test_a_move_rule_moves_and_a_sub_status_rule_sets_the_sub_status() -> None:
    move = deadlines.fire(a_rule(), an_order(), ())
    assert move is not None
    assert move.values == {"main_status": MainStatus.CANCELLED, "sub_status": None}

    flag = a_rule(
        main_status=MainStatus.PAID, move_to=None, set_sub_status="ACCEPT_OVERDUE", code="LATE"
    )
    change = deadlines.fire(flag, an_order(main_status=MainStatus.PAID), {"ACCEPT_OVERDUE"})
    assert change is not None
    assert change.values == {"sub_status": "ACCEPT_OVERDUE"}


def test_a_rule_does_nothing_to_an_order_that_moved_on() -> None:
    assert deadlines.fire(a_rule(), an_order(main_status=MainStatus.PAID), ()) is None


@pytest.mark.parametrize("status", [MainStatus.COMPLETED, MainStatus.CANCELLED])
def test_no_deadline_can_time_a_final_status(status: MainStatus) -> None:
    assert not deadlines.can_have(status)
    with pytest.raises(Rejected) as refused:
        a_rule(main_status=status, move_to=None, set_sub_status="ACCEPT_OVERDUE")
    assert refused.value.errors[0].field == ("input", "mainStatus")


def test_the_same_rule_again_is_accepted_and_other_settings_are_not() -> None:
    rule = a_rule()
    deadlines.same_rule(rule, a_rule().draft)
    with pytest.raises(Rejected) as refused:
        deadlines.same_rule(rule, a_rule(after_seconds=60).draft)
    assert refused.value.errors[0].code is ErrorCode.VALIDATION
