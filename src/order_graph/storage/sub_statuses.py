"""Sub-status definitions registered by applications, per main status."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from order_graph.domain.model import SubStatusDefinition
from order_graph.domain.status import MainStatus
from order_graph.storage import codes
from order_graph.storage.tables import sub_status_definitions as table


async def codes_for(conn: AsyncConnection, main_status: MainStatus) -> set[str]:
    statement = select(table.c.code).where(table.c.main_status == main_status)
    return set((await conn.execute(statement)).scalars())


async def is_defined(conn: AsyncConnection, main_status: MainStatus, code: str) -> bool:
    statement = select(table.c.code).where(table.c.main_status == main_status, table.c.code == code)
    return (await conn.execute(statement)).first() is not None


async def list_definitions(
    conn: AsyncConnection, main_status: MainStatus | None = None
) -> list[SubStatusDefinition]:
    statement = select(table.c.main_status, table.c.code, table.c.description, table.c.defined_by)
    if main_status is not None:
        statement = statement.where(table.c.main_status == main_status)
    rows = await conn.execute(statement.order_by(table.c.main_status, table.c.code))
    return [
        SubStatusDefinition(
            codes.MAIN_STATUS[row.main_status], row.code, row.description, row.defined_by
        )
        for row in rows
    ]


async def get(
    conn: AsyncConnection, main_status: MainStatus, code: str
) -> SubStatusDefinition | None:
    statement = select(table.c.description, table.c.defined_by).where(
        table.c.main_status == main_status, table.c.code == code
    )
    row = (await conn.execute(statement)).first()
    return None if row is None else SubStatusDefinition(main_status, code, *row)


async def insert_definition(
    conn: AsyncConnection, definition: SubStatusDefinition, now: datetime
) -> None:
    values = {
        "main_status": definition.main_status,
        "code": definition.code,
        "description": definition.description,
        "defined_by": definition.defined_by,
        "created_at": now,
    }
    await conn.execute(insert(table), values)
