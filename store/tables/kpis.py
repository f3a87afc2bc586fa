"""The KPI rollup: counts per UTC hour and per UTC day, per channel and for all channels together
(domain/kpi_tally.py says what each name counts; store/kpi_rollup.py keeps them)."""

from sqlalchemy import BigInteger, Column, Integer, SmallInteger, String, Table

from store.tables.base import Base

KPI_COUNTS = Table(
    "kpi_counts",
    Base.metadata,
    Column("channel", String(32), primary_key=True),  # "*": every channel
    Column("span", SmallInteger, primary_key=True),  # hours a row counts: 1 or 24
    Column("period", Integer, primary_key=True),  # whole spans since 1970-01-01 UTC
    Column("name", String(140), primary_key=True),
    Column("bin", Integer, primary_key=True),  # a histogram's bin; 0 for a counter
    Column("n", BigInteger, nullable=False),
    Column("total", BigInteger, nullable=False),  # a histogram bin's durations added up, in milliseconds
)
