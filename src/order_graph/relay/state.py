"""Where the relay has got to: the last log position JetStream acknowledged, per stream.

Kept in the service's own database so a restarted (or newly elected) relay resumes from it.
Keyed by stream, so relays feeding different streams from one database keep separate places.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from order_graph.storage.tables import relay_state


async def load_position(conn: AsyncConnection, stream: str) -> int:
    statement = select(relay_state.c.position).where(relay_state.c.stream == stream)
    position = (await conn.execute(statement)).scalar_one_or_none()
    return 0 if position is None else int(position)


async def save_position(conn: AsyncConnection, stream: str, position: int) -> None:
    values = {"stream": stream, "position": position, "updated_at": datetime.now(UTC)}
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(relay_state).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=[relay_state.c.stream],
        set_={"position": statement.excluded.position, "updated_at": statement.excluded.updated_at},
    )
    await conn.execute(statement)
