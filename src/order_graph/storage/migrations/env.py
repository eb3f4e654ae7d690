"""Alembic environment: always driven by `order_graph.storage.migrate` over a given connection."""

from __future__ import annotations

from alembic import context

from order_graph.storage.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
