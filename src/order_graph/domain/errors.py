"""Errors that carry data: the API turns them into `OrderError` payload entries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from order_graph.domain.model import OrderRecord
from order_graph.domain.status import MainStatus


class ErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    VALIDATION = "VALIDATION"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    VERSION_CONFLICT = "VERSION_CONFLICT"
    UNKNOWN_SUB_STATUS = "UNKNOWN_SUB_STATUS"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    FORBIDDEN = "FORBIDDEN"


Path = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OrderError:
    code: ErrorCode
    message: str
    field: Path | None = None
    current_version: int | None = None
    allowed_transitions: tuple[MainStatus, ...] | None = None


class Rejected(Exception):
    """A command was refused; nothing was changed. Carries every problem found, and the order
    as it stands when the caller needs it to try again (a version conflict)."""

    def __init__(self, errors: Iterable[OrderError], current: OrderRecord | None = None) -> None:
        self.errors: tuple[OrderError, ...] = tuple(errors)
        self.current = current
        super().__init__("; ".join(e.message for e in self.errors))

    @classmethod
    def one(cls, code: ErrorCode, message: str, field: Sequence[str] | None = None) -> Rejected:
        return cls([OrderError(code, message, tuple(field) if field else None)])


def validation(message: str, field: Sequence[str]) -> OrderError:
    return OrderError(ErrorCode.VALIDATION, message, tuple(field))


def not_found(what: str = "order") -> Rejected:
    return Rejected.one(ErrorCode.NOT_FOUND, f"No such {what}.")
