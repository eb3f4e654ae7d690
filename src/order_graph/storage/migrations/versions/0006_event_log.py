"""The event log without a shared row per write, and `store_id` on every table of an order.

Events get an `id` of their own (the primary key; existing events keep id = position) and a
nullable `position`, assigned after commit by the sequencer (events/sequencer.py) from the
same `event_counter` row, which already holds the newest position: existing events keep
theirs and new ones continue after them, so every cursor issued before stays valid.

Order items, discounts, status history, item changes and idempotency keys get the order's
`store_id`, backfilled from `orders`, so that every table of an order can be distributed by
store (docs/scaling.md). The backfill rewrites those tables once: on a large database, run it
in a quiet hour. On SQLite the new column keeps an empty default: dropping a default there
means rebuilding the table, which its foreign keys forbid inside a migration; every write
fills the column anyway.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from order_graph.storage.tables import Id, UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OWNED = ("order_items", "order_discounts", "status_changes", "order_changes", "idempotency_keys")
EVENT_INDEXES = (
    ("ix_order_events_order_id", ["order_id"]),
    ("ix_order_events_occurred_at", ["occurred_at"]),
    ("ix_order_events_store_id_position", ["store_id", "position"]),
)
# A sequencer pass (events/sequencer.py), as one function so that a pass is one round trip in
# autocommit: the advisory lock first, then (a volatile function's statements each take a new
# snapshot) every committed event still without a position, in id order, numbered on from the
# counter, and one NOTIFY carrying the newest position. Returns how many it numbered.
NUMBER_EVENTS = """
CREATE FUNCTION order_graph_number_events(batch integer) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    numbered integer;
    newest bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(7310021600160006);
    WITH pending AS (
        SELECT id, row_number() OVER (ORDER BY id) AS n
        FROM order_events WHERE position IS NULL ORDER BY id LIMIT batch
    ), counted AS (
        SELECT count(*) AS total FROM pending
    ), bumped AS (
        UPDATE event_counter SET position = event_counter.position + counted.total
        FROM counted WHERE event_counter.id = 1 AND counted.total > 0
        RETURNING event_counter.position AS last, counted.total AS total
    ), placed AS (
        UPDATE order_events AS e SET position = bumped.last - bumped.total + pending.n
        FROM pending, bumped WHERE e.id = pending.id
        RETURNING e.position
    )
    SELECT count(*), max(placed.position) INTO numbered, newest FROM placed;
    IF numbered > 0 THEN
        PERFORM pg_notify('order_events', newest::text);
    END IF;
    RETURN numbered;
END
$$
"""


def _is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    for table in OWNED:
        op.add_column(
            table, sa.Column("store_id", sa.String(128), nullable=False, server_default="")
        )
        op.execute(
            f"UPDATE {table} SET store_id = "
            f"(SELECT orders.store_id FROM orders WHERE orders.id = {table}.order_id)"
        )
        if not _is_sqlite():
            op.alter_column(table, "store_id", server_default=None)
    # The counter already holds the newest position; made sure of, since new events number on
    # from it and an old cursor must never see a position twice.
    op.execute(
        "UPDATE event_counter SET position = "
        "(SELECT max(p) FROM (SELECT position AS p FROM event_counter WHERE id = 1 "
        "UNION ALL SELECT max(position) FROM order_events) AS known) WHERE id = 1"
    )
    if _is_sqlite():
        _rebuild_events_sqlite(upgrading=True)
        return
    op.add_column("order_events", sa.Column("id", sa.BigInteger))
    op.execute("UPDATE order_events SET id = position")
    op.execute("CREATE SEQUENCE order_events_id_seq OWNED BY order_events.id")
    op.execute(
        "SELECT setval('order_events_id_seq', "
        "(SELECT coalesce(max(id), 0) + 1 FROM order_events), false)"
    )
    op.execute(
        "ALTER TABLE order_events ALTER COLUMN id SET DEFAULT nextval('order_events_id_seq'), "
        "ALTER COLUMN id SET NOT NULL"
    )
    op.drop_constraint("pk_order_events", "order_events", type_="primary")
    op.create_primary_key("pk_order_events", "order_events", ["id"])
    op.alter_column("order_events", "position", nullable=True)
    op.create_unique_constraint("uq_order_events_position", "order_events", ["position"])
    op.create_index(
        "ix_order_events_unpositioned",
        "order_events",
        ["id"],
        postgresql_where=sa.text("position IS NULL"),
    )
    op.execute(NUMBER_EVENTS)


def downgrade() -> None:
    if _is_sqlite():
        _rebuild_events_sqlite(upgrading=False)  # SQLite never leaves an event unpositioned
    else:
        op.execute("LOCK TABLE order_events IN EXCLUSIVE MODE")  # no write slips in after
        op.execute("SELECT order_graph_number_events(2147483647)")  # whatever still waits
        op.execute("DROP FUNCTION order_graph_number_events(integer)")
        op.drop_index("ix_order_events_unpositioned", "order_events")
        op.drop_constraint("uq_order_events_position", "order_events", type_="unique")
        op.drop_constraint("pk_order_events", "order_events", type_="primary")
        op.alter_column("order_events", "position", nullable=False)
        op.create_primary_key("pk_order_events", "order_events", ["position"])
        op.drop_column("order_events", "id")  # drops its sequence too (OWNED BY)
    for table in OWNED:
        op.drop_column(table, "store_id")


def _rebuild_events_sqlite(upgrading: bool) -> None:
    """SQLite cannot change a primary key in place: the table is copied into its new shape."""
    op.rename_table("order_events", "order_events_old")
    for name, _columns in EVENT_INDEXES:
        op.drop_index(name, "order_events_old")
    if not upgrading:
        op.drop_index("ix_order_events_unpositioned", "order_events_old")
    key = (
        [
            sa.Column("id", Id, primary_key=True, autoincrement=True),
            sa.Column("position", sa.BigInteger),
        ]
        if upgrading
        else [sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False)]
    )
    op.create_table(
        "order_events",
        *key,
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
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_order_events_order_id_orders"
        ),
        *([sa.UniqueConstraint("position", name="uq_order_events_position")] if upgrading else []),
    )
    columns = (
        "position, type, order_id, store_id, version, main_status, sub_status, "
        "previous_main_status, previous_sub_status, actor, occurred_at"
    )
    copied_id = "position AS id, " if upgrading else ""
    into = f"id, {columns}" if upgrading else columns
    op.execute(
        f"INSERT INTO order_events ({into}) SELECT {copied_id}{columns} FROM order_events_old"
    )
    op.drop_table("order_events_old")
    for name, indexed in EVENT_INDEXES:
        op.create_index(name, "order_events", indexed)
    if upgrading:
        op.create_index(
            "ix_order_events_unpositioned",
            "order_events",
            ["id"],
            sqlite_where=sa.text("position IS NULL"),
        )
