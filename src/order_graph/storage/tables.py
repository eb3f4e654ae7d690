"""The schema as SQLAlchemy Core tables. Money columns hold integer minor units."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY.
Id = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """Always timezone-aware UTC, also on SQLite, which stores naive text."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and dialect.name == "sqlite":
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


# Every table of an order's data carries the order's `store_id`, so that they can all be
# distributed by store and co-located, each order with its rows, on a sharded PostgreSQL
# (docs/scaling.md). The other tables (clients, rules, definitions) are small and global.
orders = Table(
    "orders",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("version", Integer, nullable=False),
    Column("store_id", String(128), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("fulfillment_type", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("main_status", String(16), nullable=False),
    Column("sub_status", String(64)),
    Column("items_total", BigInteger, nullable=False),
    Column("discount_total", BigInteger, nullable=False),
    Column("delivery_fee", BigInteger, nullable=False),
    Column("packaging_fee", BigInteger, nullable=False),
    Column("payable_total", BigInteger, nullable=False),
    Column("external_platform", String(128)),
    Column("external_order_id", String(128)),
    Column("customer_id", String(128)),
    Column("remark", Text),
    Column("attributes", Json, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("refunded_total", BigInteger, nullable=False, server_default="0"),
    UniqueConstraint("external_platform", "external_order_id", name="uq_orders_external_ref"),
    Index("ix_orders_store_id_id", "store_id", "id"),
    Index("ix_orders_customer_id_id", "customer_id", "id"),
    Index("ix_orders_main_status_id", "main_status", "id"),
)

order_items = Table(
    "order_items",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("order_id", Id, ForeignKey("orders.id"), nullable=False, index=True),
    Column("store_id", String(128), nullable=False),
    Column("position", Integer, nullable=False),
    Column("sku_id", String(128), nullable=False),
    Column("name", String(500), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", BigInteger, nullable=False),
    Column("line_total", BigInteger, nullable=False),
    Column("attributes", Json, nullable=False),
    Column("cancelled_quantity", Integer, nullable=False, server_default="0"),
)

order_discounts = Table(
    "order_discounts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("order_id", Id, ForeignKey("orders.id"), nullable=False, index=True),
    Column("store_id", String(128), nullable=False),
    Column("position", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("code", String(128)),
    Column("description", Text),
    Column("amount", BigInteger, nullable=False),
    Column("item_id", Id, ForeignKey("order_items.id")),
    Column("funded_by", String(128)),
)

status_changes = Table(
    "status_changes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("order_id", Id, ForeignKey("orders.id"), nullable=False, index=True),
    Column("store_id", String(128), nullable=False),
    Column("from_main_status", String(16)),
    Column("to_main_status", String(16), nullable=False),
    Column("from_sub_status", String(64)),
    Column("to_sub_status", String(64)),
    Column("reason", Text),
    Column("actor", String(128), nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("version", Integer, nullable=False),
)

# Every item change of an order (domain/changes.py), immutable, with the version it produced.
# `lines` and `discounts` hold what the change touched and the results the caller gave, in
# minor units; `discounts` is null when a cancellation kept the stored ones.
order_changes = Table(
    "order_changes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("order_id", Id, ForeignKey("orders.id"), nullable=False),
    Column("store_id", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("lines", Json, nullable=False),
    Column("discounts", Json),
    Column("refund_amount", BigInteger),
    Column("reason", Text),
    Column("actor", String(128), nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    UniqueConstraint("order_id", "version", name="uq_order_changes_order_id_version"),
)

sub_status_definitions = Table(
    "sub_status_definitions",
    metadata,
    Column("main_status", String(16), primary_key=True),
    Column("code", String(64), primary_key=True),
    Column("description", Text),
    Column("defined_by", String(128), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("client", String(128), primary_key=True),
    Column("operation", String(32), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("order_id", Id, ForeignKey("orders.id"), nullable=False),
    Column("store_id", String(128), nullable=False),
    # The order as the first call left it, for replies to retries (transitions only).
    Column("result", Json),
    Column("created_at", UtcDateTime, nullable=False, index=True),
)

# The event log (a transactional outbox). A writer inserts its event with no `position`; after
# commit the sequencer (events/sequencer.py) numbers committed events from `event_counter`, one
# pass at a time, so positions become visible in increasing order and a reader following
# `position > cursor` never skips one (on SQLite the writer numbers its own: writers are
# serialised there). `id` only orders the events waiting for a position.
order_events = Table(
    "order_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("position", BigInteger, unique=True),
    Column("type", String(32), nullable=False),
    Column("order_id", Id, ForeignKey("orders.id"), nullable=False, index=True),
    Column("store_id", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("main_status", String(16), nullable=False),
    Column("sub_status", String(64)),
    Column("previous_main_status", String(16)),
    Column("previous_sub_status", String(64)),
    Column("actor", String(128), nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False, index=True),
    Index("ix_order_events_store_id_position", "store_id", "position"),
    # Only the events still waiting for a position: the sequencer's work list, kept small.
    Index(
        "ix_order_events_unpositioned",
        "id",
        postgresql_where=text("position IS NULL"),
        sqlite_where=text("position IS NULL"),
    ),
)

event_counter = Table(
    "event_counter",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("position", BigInteger, nullable=False),
)

clients = Table(
    "clients",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("scopes", Json, nullable=False),
    Column("store_ids", Json),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
    # Only registered documents (`trusted_documents`, by id) from this client: no query text.
    Column("trusted_documents_only", Boolean, nullable=False, server_default=false()),
)

# GraphQL documents an admin registered (`order-graph documents register`); the id is the
# SHA-256 of the body in hex, so a body is stored under one id and an id stands for one body.
trusted_documents = Table(
    "trusted_documents",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("body", Text, nullable=False),
    Column("registered_by", String(128), nullable=False),
    Column("registered_at", UtcDateTime, nullable=False),
)

# Where the NATS relay has got to, per stream (see order_graph.relay).
relay_state = Table(
    "relay_state",
    metadata,
    Column("stream", String(255), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# Deadline rules (order_graph.domain.deadlines), registered by admin clients.
deadline_rules = Table(
    "deadline_rules",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("main_status", String(16), nullable=False),
    Column("channel", String(32)),
    Column("fulfillment_type", String(16)),
    Column("after_seconds", Integer, nullable=False),
    Column("action", String(16), nullable=False),
    Column("target", String(64), nullable=False),
    Column("reason", String(64), nullable=False),
    Column("defined_by", String(128), nullable=False),
    Column("defined_at", UtcDateTime, nullable=False),
)

# The pending deadline of every rule that applies to an order in its current main status,
# written in the same transaction as the status change (storage/deadlines.py). A deadline is
# deleted when it fires, when the order leaves the status, or with its rule. No foreign keys:
# every order written with a popular rule would otherwise share a lock on that rule's row.
order_deadlines = Table(
    "order_deadlines",
    metadata,
    Column("order_id", Id, primary_key=True, autoincrement=False),
    Column("rule_id", Id, primary_key=True, autoincrement=False),
    Column("store_id", String(128), nullable=False),
    Column("due_at", UtcDateTime, nullable=False),
    # The sweep reads the due ones oldest first; a store's screen reads its own by due time.
    Index("ix_order_deadlines_due_at", "due_at", "order_id", "rule_id"),
    Index("ix_order_deadlines_store_id_due_at", "store_id", "due_at"),
)
