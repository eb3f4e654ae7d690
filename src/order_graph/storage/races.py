"""Which constraint violation is the race a retry resolves, and which is a bug.

Two requests that insert the same unique key at once (one idempotency key, one externalRef, one
sub-status definition, one deadline rule's code) both pass their look-up; the second commit
violates the key and rolls back, and its retry finds the winner's row. Any other violation is a
real bug, which a retry would only hide.
"""

from __future__ import annotations

from sqlalchemy import Table, UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlalchemy.schema import PrimaryKeyConstraint

from order_graph.storage.tables import (
    deadline_rules,
    idempotency_keys,
    orders,
    sub_status_definitions,
)

_UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE
_SQLITE_UNIQUE = "UNIQUE constraint failed: "


def _keys(table: Table, name: str) -> tuple[str, str]:
    """The constraint's name (PostgreSQL's errors say it) and its columns as SQLite names them."""
    (constraint,) = (
        c
        for c in table.constraints
        if c.name == name and isinstance(c, UniqueConstraint | PrimaryKeyConstraint)
    )
    return name, ", ".join(f"{table.name}.{column.name}" for column in constraint.columns)


_RACY = (
    _keys(idempotency_keys, "pk_idempotency_keys"),
    _keys(orders, "uq_orders_external_ref"),
    _keys(sub_status_definitions, "pk_sub_status_definitions"),
    _keys(deadline_rules, "uq_deadline_rules_code"),
)
_POSTGRES_NAMES = frozenset(name for name, _ in _RACY)
_SQLITE_COLUMNS = frozenset(columns for _, columns in _RACY)


def is_unique_race(error: IntegrityError) -> bool:
    driver_error = error.orig
    # asyncpg's error (PostgreSQL) is the cause of SQLAlchemy's adapted one.
    cause = getattr(driver_error, "__cause__", None)
    if getattr(driver_error, "sqlstate", None) == _UNIQUE_VIOLATION:
        return getattr(cause, "constraint_name", None) in _POSTGRES_NAMES
    message = str(driver_error)
    if message.startswith(_SQLITE_UNIQUE):
        return message.removeprefix(_SQLITE_UNIQUE) in _SQLITE_COLUMNS
    return False
