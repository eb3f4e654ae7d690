"""The NATS relay's last acknowledged event position, per stream.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from order_graph.storage.tables import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "relay_state",
        sa.Column("stream", sa.String(255), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("stream", name="pk_relay_state"),
    )


def downgrade() -> None:
    op.drop_table("relay_state")
