"""The KPI facts: one row per order and an hourly rollup, kept by the projection (store/kpi_facts.py)."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Float, ForeignKey, Index, Integer, String, Table, text
from sqlalchemy.orm import Mapped, mapped_column

from store.tables.base import TS, Base


def _where(column: str) -> dict[str, Any]:
    return {"sqlite_where": text(f"{column} IS NOT NULL"), "postgresql_where": text(f"{column} IS NOT NULL")}


# What a rollup row counts (store/kpi_facts.counters), per hour and channel: the orders received in the
# hour, and (`completed`) the orders that completed in it.
ROLLUP_COUNTERS: tuple[str, ...] = (
    "orders",
    "touched",
    *(f"touch_{name}" for name in ("address_changed", "approval", "cancelled", "exception_resolved", "hold")),
    "errored",
    *(
        f"error_{name}"
        for name in ("address_rejected", "delivery_failed", "order_invalid", "step_failed", "system_cancelled")
    ),
    "shipped",
    "delivered",
    "on_time",
    "late_shipped",
    "late_shipped_warned",
    "first_units",
    "allocated_units",
    "warned",
    "completed",
)
KPI_ROLLUP = Table(
    "kpi_rollup",
    Base.metadata,
    Column("hour", Integer, primary_key=True),  # whole hours since the epoch, UTC
    Column("channel", String(32), primary_key=True),
    *(Column(name, BigInteger, nullable=False) for name in ROLLUP_COUNTERS),
)


class KpiFactRow(Base):
    """One row per order: what the KPIs need to know about it (domain.kpis.OrderFacts), rewritten by the
    projection in the transaction that changes the order (store/kpi_facts.py). Durations are hours,
    computed by domain.kpis.hours; `*_hour` columns are whole hours since the epoch (UTC), for buckets."""

    __tablename__ = "order_kpi_facts"
    __table_args__ = (
        Index("ix_order_kpi_facts_received", "received_at"),
        Index("ix_order_kpi_facts_completed", "completed_at"),
        # Nearest ranks are found by walking these in value order (store/kpis.py), never by sorting a window.
        *(
            Index(f"ix_order_kpi_facts_{name}", f"{name}_hours", "received_at", "channel", **_where(f"{name}_hours"))
            for name in ("shipped", "delivered")
        ),
        Index(
            "ix_order_kpi_facts_lead", "warning_lead_hours", "received_at", "channel", **_where("warning_lead_hours")
        ),
        Index("ix_order_kpi_facts_hour", "received_hour", "shipped_hours", "received_at", "channel"),
        # Unshipped orders: late or not depends on the time of asking.
        Index(
            "ix_order_kpi_facts_open",
            "received_at",
            "ship_by",
            "status",
            "warning_lead_hours",
            "received_hour",
            "channel",
            sqlite_where=text("shipped_at IS NULL"),
            postgresql_where=text("shipped_at IS NULL"),
        ),
    )
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(TS)
    received_hour: Mapped[int] = mapped_column(Integer)
    ship_by: Mapped[datetime | None] = mapped_column(TS, nullable=True)
    shipped_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)
    shipped_hours: Mapped[float | None] = mapped_column(Float, nullable=True)
    delivered_hours: Mapped[float | None] = mapped_column(Float, nullable=True)
    touches: Mapped[int] = mapped_column(Integer)  # domain.kpis.TOUCH_BITS
    errors: Mapped[int] = mapped_column(Integer)  # domain.kpis.ERROR_BITS
    units_ordered: Mapped[int] = mapped_column(Integer)
    units_first_allocation: Mapped[int | None] = mapped_column(Integer, nullable=True)
    warning_lead_hours: Mapped[float | None] = mapped_column(Float, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)
    completed_hour: Mapped[int | None] = mapped_column(Integer, nullable=True)
