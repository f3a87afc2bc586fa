"""Small dialect-neutral helpers."""

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Insert, Table, and_, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def utcnow() -> datetime:
    return datetime.now(UTC)


@cache
def ignoring_insert(
    dialect: str, table: Table, on: tuple[str, ...] | None = None, returning: tuple[str, ...] = ()
) -> Insert:
    """INSERT ... ON CONFLICT [(on)] DO NOTHING [RETURNING ...] into `table`, built once per dialect.

    The same statement object every time, executed with the rows as parameters, so SQLAlchemy finds it
    in its compiled cache instead of generating a cache key and compiling SQL for each call."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).on_conflict_do_nothing(index_elements=list(on) if on else None)
    return statement.returning(*(table.c[name] for name in returning)) if returning else statement


async def insert_ignore(
    session: AsyncSession, table: Table, rows: list[dict[str, Any]], on: Sequence[str] | None = None
) -> int:
    """INSERT ... ON CONFLICT DO NOTHING; returns how many rows were new. `on` names the unique key the
    insert relies on: the database then refuses the statement outright if that key is not unique."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    key = tuple(on) if on else None
    if len(rows) == 1:
        result = await session.execute(ignoring_insert(dialect, table, key), rows[0])
        return int(getattr(result, "rowcount", 0) or 0)
    # Several rows: asyncpg reports no row count for an executemany, so count the rows RETURNING hands back.
    primary_key = tuple(column.name for column in table.primary_key)
    result = await session.execute(ignoring_insert(dialect, table, key, primary_key), rows)
    return len(result.all())


def past_cursor(at: Any, key: Any, cursor: tuple[Any, Any], newest_first: bool = True) -> ColumnElement[bool]:
    """Keyset pagination: the rows after `cursor` = (at, key) in (at, key) order, newest first or oldest first."""
    cursor_at, cursor_key = cursor
    if newest_first:
        return or_(at < cursor_at, and_(at == cursor_at, key < cursor_key))
    return or_(at > cursor_at, and_(at == cursor_at, key > cursor_key))
