"""insert_ignore counts the rows that were new, on both databases, one row or many."""

from sqlalchemy import Table, select

from store.db import create_engine, create_sessions
from store.sql import insert_ignore
from store.tables import Warehouse
from tests.conftest import unique

WAREHOUSES: Table = Warehouse.__table__  # type: ignore[assignment]


async def test_only_new_rows_are_counted(database_url: str) -> None:
    engine = create_engine(database_url)
    sessions = create_sessions(engine)
    first, second, third = unique("W"), unique("W"), unique("W")
    try:
        async with sessions.begin() as s:
            assert await insert_ignore(s, WAREHOUSES, [{"code": first, "name": "one"}]) == 1
            assert await insert_ignore(s, WAREHOUSES, [{"code": first, "name": "again"}]) == 0
            several = [{"code": code, "name": code} for code in (first, second, third)]
            assert await insert_ignore(s, WAREHOUSES, several) == 2
            assert await insert_ignore(s, WAREHOUSES, several, on=["code"]) == 0
            assert await insert_ignore(s, WAREHOUSES, []) == 0
        async with sessions() as s:
            query = select(Warehouse.code, Warehouse.name).where(Warehouse.code.in_([first, second, third]))
            names = {row.code: row.name for row in (await s.execute(query)).all()}
            assert names == {first: "one", second: second, third: third}
    finally:
        await engine.dispose()
