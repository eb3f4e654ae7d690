"""The main-status machine, kept as one data table."""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum


class MainStatus(StrEnum):
    CREATED = "CREATED"
    PAID = "PAID"
    ACCEPTED = "ACCEPTED"
    FULFILLING = "FULFILLING"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


_ = MainStatus

TRANSITIONS: Mapping[MainStatus, tuple[MainStatus, ...]] = {
    _.CREATED: (_.PAID, _.CANCELLED),
    _.PAID: (_.ACCEPTED, _.CANCELLED),
    _.ACCEPTED: (_.FULFILLING, _.CANCELLED),
    _.FULFILLING: (_.COMPLETED, _.CANCELLED),
    _.COMPLETED: (),
    _.CANCELLED: (),
}

INITIAL_STATUSES: tuple[MainStatus, ...] = (_.CREATED, _.PAID)

SUB_STATUS_CODE = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$")
SUB_STATUS_MAX_LENGTH = 64


def allowed_transitions(status: MainStatus) -> tuple[MainStatus, ...]:
    return TRANSITIONS[status]


def can_move(from_status: MainStatus, to_status: MainStatus) -> bool:
    return to_status in TRANSITIONS[from_status]


def is_valid_sub_status_code(code: str) -> bool:
    return len(code) <= SUB_STATUS_MAX_LENGTH and SUB_STATUS_CODE.fullmatch(code) is not None
