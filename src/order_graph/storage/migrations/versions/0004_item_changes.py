"""Item changes after placing an order: cancelled quantities, refunds, the change records.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from order_graph.storage.tables import Id, Json, UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing rows read as nothing cancelled and nothing refunded, which is what they are.
    op.add_column(
        "orders", sa.Column("refunded_total", sa.BigInteger, nullable=False, server_default="0")
    )
    op.add_column(
        "order_items",
        sa.Column("cancelled_quantity", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "order_changes",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("order_id", Id, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("lines", Json, nullable=False),
        sa.Column("discounts", Json),
        sa.Column("refund_amount", sa.BigInteger),
        sa.Column("reason", sa.Text),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("occurred_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_order_changes"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_order_changes_order_id_orders"
        ),
        sa.UniqueConstraint("order_id", "version", name="uq_order_changes_order_id_version"),
    )


def downgrade() -> None:
    op.drop_table("order_changes")
    with op.batch_alter_table("order_items") as batch:
        batch.drop_column("cancelled_quantity")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("refunded_total")
