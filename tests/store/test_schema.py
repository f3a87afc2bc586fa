"""The migrations build exactly the schema the code declares, on both databases."""

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, MetaData, UniqueConstraint

from store.db import create_engine
from store.tables import Base


async def _differences(database_url: str, metadata: MetaData) -> list[Any]:
    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(compare)
    finally:
        await engine.dispose()


async def test_migrations_match_the_declared_tables(database_url: str) -> None:
    assert await _differences(database_url, Base.metadata) == []


async def test_a_unique_key_missing_from_the_declaration_is_noticed(sqlite_url: str) -> None:
    """The invoices' business key is what the worker-kill drill relies on: the check must see it go."""
    declared = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(declared)
    invoices = declared.tables["invoices"]
    invoices.constraints -= {c for c in invoices.constraints if isinstance(c, UniqueConstraint) and "key" in c.columns}
    differences = await _differences(sqlite_url, declared)
    assert [d[0] for d in differences] == ["remove_constraint"]
