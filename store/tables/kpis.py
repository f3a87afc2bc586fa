"""The KPI rollup: counts per UTC hour and channel (domain/kpi_tally.py says what each name counts)."""

from sqlalchemy import BigInteger, Column, Integer, String, Table

from store.tables.base import Base

KPI_COUNTS = Table(
    "kpi_counts",
    Base.metadata,
    Column("hour", Integer, primary_key=True),  # whole hours since 1970-01-01 UTC
    Column("channel", String(32), primary_key=True),
    Column("name", String(140), primary_key=True),
    Column("bin", Integer, primary_key=True),  # a histogram's bin; 0 for a counter
    Column("n", BigInteger, nullable=False),
    Column("total", BigInteger, nullable=False),  # a histogram bin's durations added up, in milliseconds
)
