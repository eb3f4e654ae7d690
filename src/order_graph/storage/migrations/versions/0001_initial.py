"""Orders, items, discounts, status history, sub-status definitions, idempotency, event log.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from order_graph.storage.tables import Id, Json, UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("store_id", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("fulfillment_type", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("main_status", sa.String(16), nullable=False),
        sa.Column("sub_status", sa.String(64)),
        sa.Column("items_total", sa.BigInteger, nullable=False),
        sa.Column("discount_total", sa.BigInteger, nullable=False),
        sa.Column("delivery_fee", sa.BigInteger, nullable=False),
        sa.Column("packaging_fee", sa.BigInteger, nullable=False),
        sa.Column("payable_total", sa.BigInteger, nullable=False),
        sa.Column("external_platform", sa.String(128)),
        sa.Column("external_order_id", sa.String(128)),
        sa.Column("customer_id", sa.String(128)),
        sa.Column("remark", sa.Text),
        sa.Column("attributes", Json, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
        sa.UniqueConstraint(
            "external_platform", "external_order_id", name="uq_orders_external_ref"
        ),
    )
    op.create_index("ix_orders_store_id_id", "orders", ["store_id", "id"])
    op.create_index("ix_orders_customer_id_id", "orders", ["customer_id", "id"])
    op.create_index("ix_orders_main_status_id", "orders", ["main_status", "id"])

    op.create_table(
        "order_items",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("order_id", Id, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("sku_id", sa.String(128), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("unit_price", sa.BigInteger, nullable=False),
        sa.Column("line_total", sa.BigInteger, nullable=False),
        sa.Column("attributes", Json, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_order_items"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name="fk_order_items_order_id_orders"),
    )
    op.create_index("ix_order_items_order_id", "order_items", ["order_id"])

    op.create_table(
        "order_discounts",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("order_id", Id, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("code", sa.String(128)),
        sa.Column("description", sa.Text),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("item_id", Id),
        sa.Column("funded_by", sa.String(128)),
        sa.PrimaryKeyConstraint("id", name="pk_order_discounts"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_order_discounts_order_id_orders"
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["order_items.id"], name="fk_order_discounts_item_id_order_items"
        ),
    )
    op.create_index("ix_order_discounts_order_id", "order_discounts", ["order_id"])

    op.create_table(
        "status_changes",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("order_id", Id, nullable=False),
        sa.Column("from_main_status", sa.String(16)),
        sa.Column("to_main_status", sa.String(16), nullable=False),
        sa.Column("from_sub_status", sa.String(64)),
        sa.Column("to_sub_status", sa.String(64)),
        sa.Column("reason", sa.Text),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("occurred_at", UtcDateTime, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_status_changes"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_status_changes_order_id_orders"
        ),
    )
    op.create_index("ix_status_changes_order_id", "status_changes", ["order_id"])

    op.create_table(
        "sub_status_definitions",
        sa.Column("main_status", sa.String(16), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("defined_by", sa.String(128), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("main_status", "code", name="pk_sub_status_definitions"),
    )

    op.create_table(
        "idempotency_keys",
        sa.Column("client", sa.String(128), nullable=False),
        sa.Column("operation", sa.String(32), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("order_id", Id, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("client", "operation", "key", name="pk_idempotency_keys"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_idempotency_keys_order_id_orders"
        ),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])

    op.create_table(
        "order_events",
        sa.Column("position", sa.BigInteger, autoincrement=False, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("order_id", Id, nullable=False),
        sa.Column("store_id", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("main_status", sa.String(16), nullable=False),
        sa.Column("sub_status", sa.String(64)),
        sa.Column("previous_main_status", sa.String(16)),
        sa.Column("previous_sub_status", sa.String(64)),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("occurred_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("position", name="pk_order_events"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_order_events_order_id_orders"
        ),
    )
    op.create_index("ix_order_events_order_id", "order_events", ["order_id"])
    op.create_index("ix_order_events_occurred_at", "order_events", ["occurred_at"])
    op.create_index("ix_order_events_store_id_position", "order_events", ["store_id", "position"])

    counter = op.create_table(
        "event_counter",
        sa.Column("id", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_event_counter"),
    )
    op.bulk_insert(counter, [{"id": 1, "position": 0}])


def downgrade() -> None:
    for table in (
        "event_counter",
        "order_events",
        "idempotency_keys",
        "sub_status_definitions",
        "status_changes",
        "order_discounts",
        "order_items",
        "orders",
    ):
        op.drop_table(table)
