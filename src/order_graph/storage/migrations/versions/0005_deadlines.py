"""Deadline rules, and the pending deadlines of each order.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from order_graph.storage.tables import Id, UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deadline_rules",
        sa.Column("id", Id, nullable=False, autoincrement=True),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("main_status", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(32)),
        sa.Column("fulfillment_type", sa.String(16)),
        sa.Column("after_seconds", sa.Integer, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("defined_by", sa.String(128), nullable=False),
        sa.Column("defined_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deadline_rules"),
        sa.UniqueConstraint("code", name="uq_deadline_rules_code"),
    )
    op.create_table(
        "order_deadlines",
        sa.Column("order_id", Id, nullable=False, autoincrement=False),
        sa.Column("rule_id", Id, nullable=False, autoincrement=False),
        sa.Column("store_id", sa.String(128), nullable=False),
        sa.Column("due_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("order_id", "rule_id", name="pk_order_deadlines"),
    )
    op.create_index(
        "ix_order_deadlines_due_at", "order_deadlines", ["due_at", "order_id", "rule_id"]
    )
    op.create_index("ix_order_deadlines_store_id_due_at", "order_deadlines", ["store_id", "due_at"])


def downgrade() -> None:
    op.drop_table("order_deadlines")
    op.drop_table("deadline_rules")
