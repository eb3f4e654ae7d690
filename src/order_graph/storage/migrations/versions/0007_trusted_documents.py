"""Trusted documents, registered by an admin, and the clients restricted to them.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from order_graph.storage.tables import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trusted_documents",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("registered_by", sa.String(128), nullable=False),
        sa.Column("registered_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_trusted_documents"),
    )
    with op.batch_alter_table("clients") as batch:
        batch.add_column(
            sa.Column(
                "trusted_documents_only", sa.Boolean, nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("trusted_documents_only")
    op.drop_table("trusted_documents")
