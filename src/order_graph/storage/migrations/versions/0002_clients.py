"""Registered client applications and the hashes of their API keys; idempotent results.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from order_graph.storage.tables import Json, UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clients",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("scopes", Json, nullable=False),
        sa.Column("store_ids", Json),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("revoked_at", UtcDateTime),
        sa.PrimaryKeyConstraint("name", name="pk_clients"),
        sa.UniqueConstraint("key_hash", name="uq_clients_key_hash"),
    )
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.add_column(sa.Column("result", Json))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_column("result")
    op.drop_table("clients")
