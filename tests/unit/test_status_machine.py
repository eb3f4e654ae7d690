from __future__ import annotations

import itertools

import pytest

from order_graph.domain.errors import ErrorCode, Rejected
from order_graph.domain.lifecycle import transition
from order_graph.domain.status import (
    INITIAL_STATUSES,
    TRANSITIONS,
    MainStatus,
    is_valid_sub_status_code,
)
from tests.unit.builders import an_order

S = MainStatus
EXPECTED_MOVES = {
    (S.CREATED, S.PAID),
    (S.CREATED, S.CANCELLED),
    (S.PAID, S.ACCEPTED),
    (S.PAID, S.CANCELLED),
    (S.ACCEPTED, S.FULFILLING),
    (S.ACCEPTED, S.CANCELLED),
    (S.FULFILLING, S.COMPLETED),
    (S.FULFILLING, S.CANCELLED),
}


def test_the_table_holds_exactly_the_documented_moves() -> None:
    moves = {(source, target) for source, targets in TRANSITIONS.items() for target in targets}
    assert moves == EXPECTED_MOVES
    assert set(TRANSITIONS) == set(MainStatus)


def test_completed_and_cancelled_are_final() -> None:
    assert TRANSITIONS[S.COMPLETED] == ()
    assert TRANSITIONS[S.CANCELLED] == ()


def test_orders_start_created_or_paid() -> None:
    assert set(INITIAL_STATUSES) == {S.CREATED, S.PAID}


@pytest.mark.parametrize(("source", "target"), list(itertools.product(MainStatus, MainStatus)))
def test_every_pair_is_allowed_exactly_when_the_table_says(
    source: MainStatus, target: MainStatus
) -> None:
    order = an_order(main_status=source, sub_status="SOMETHING")
    if (source, target) in EXPECTED_MOVES:
        change = transition(order, target, None, set())
        assert change.values == {"main_status": target, "sub_status": None}
        return
    with pytest.raises(Rejected) as caught:
        transition(order, target, None, set())
    (error,) = caught.value.errors
    assert error.code is ErrorCode.INVALID_TRANSITION
    assert error.allowed_transitions == TRANSITIONS[source]


def test_a_move_may_set_a_registered_sub_status_of_the_target() -> None:
    change = transition(an_order(main_status=S.PAID), S.ACCEPTED, "PREPARING", {"PREPARING"})
    assert change.values["sub_status"] == "PREPARING"


def test_a_move_refuses_an_unregistered_sub_status() -> None:
    with pytest.raises(Rejected) as caught:
        transition(an_order(main_status=S.PAID), S.ACCEPTED, "PREPARING", set())
    assert caught.value.errors[0].code is ErrorCode.UNKNOWN_SUB_STATUS


@pytest.mark.parametrize("code", ["RIDER_ASSIGNED", "A", "STEP_2", "X" * 64])
def test_upper_snake_codes_are_valid(code: str) -> None:
    assert is_valid_sub_status_code(code)


@pytest.mark.parametrize(
    "code", ["", "rider", "Rider_Assigned", "_A", "A_", "A__B", "2A", "A-B", "X" * 65]
)
def test_other_codes_are_not(code: str) -> None:
    assert not is_valid_sub_status_code(code)
