"""Small dialect-neutral helpers."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def utcnow() -> datetime:
    return datetime.now(UTC)


async def insert_ignore(
    session: AsyncSession, table: Table, rows: list[dict[str, Any]], on: list[str] | None = None
) -> int:
    """INSERT ... ON CONFLICT DO NOTHING; returns how many rows were new. `on` names the unique key the
    insert relies on: the database then refuses the statement outright if that key is not unique."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    result = await session.execute(insert(table).values(rows).on_conflict_do_nothing(index_elements=on))
    return int(getattr(result, "rowcount", 0) or 0)


def past_cursor(at: Any, key: Any, cursor: tuple[Any, Any], newest_first: bool = True) -> ColumnElement[bool]:
    """Keyset pagination: the rows after `cursor` = (at, key) in (at, key) order, newest first or oldest first."""
    cursor_at, cursor_key = cursor
    if newest_first:
        return or_(at < cursor_at, and_(at == cursor_at, key < cursor_key))
    return or_(at > cursor_at, and_(at == cursor_at, key > cursor_key))
