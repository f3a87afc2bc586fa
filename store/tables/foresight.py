"""Foresight: inbound stock, demand history, forecasts, projections and stock alerts (docs/foresight.md)."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from store.tables.base import TS, Base


class InboundRow(Base):
    """Stock on its way (a purchase order or ASN): what is expected, where, when; receipts close it."""

    __tablename__ = "inbound"
    __table_args__ = (
        UniqueConstraint("warehouse", "reference"),
        Index("ix_inbound_status_expected", "status", "expected_at"),
        CheckConstraint("status IN ('open', 'partly_received', 'received', 'closed')", name="status_known"),
    )
    inbound_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    warehouse: Mapped[str] = mapped_column(ForeignKey("warehouses.code"))
    reference: Mapped[str] = mapped_column(String(120))
    expected_at: Mapped[datetime] = mapped_column(TS)
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))  # manual | suggestion
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(TS)
    updated_at: Mapped[datetime] = mapped_column(TS)
    received_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)  # the last receipt against it


class InboundLineRow(Base):
    __tablename__ = "inbound_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index("ix_inbound_lines_sku", "sku"),
    )
    inbound_id: Mapped[str] = mapped_column(ForeignKey("inbound.inbound_id"), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)
    received: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class DemandDay(Base):
    """Units ordered per SKU x warehouse x UTC day, backordered demand included: the forecast's history."""

    __tablename__ = "demand_daily"
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    warehouse: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)


class ForecastRow(Base):
    __tablename__ = "demand_forecasts"
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    warehouse: Mapped[str] = mapped_column(String(32), primary_key=True)
    pattern: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(32))
    first_day: Mapped[date] = mapped_column(Date)  # the day daily[0] forecasts
    daily: Mapped[list[float]] = mapped_column(JSON)
    sigma: Mapped[float] = mapped_column(Float)
    mae: Mapped[float] = mapped_column(Float)
    bias: Mapped[float] = mapped_column(Float)
    adi: Mapped[float] = mapped_column(Float)
    cv2: Mapped[float] = mapped_column(Float)
    history_days: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(TS)


class ProjectionRow(Base):
    """Projected stock and the replenishment suggestion of one SKU x warehouse, as of the last run."""

    __tablename__ = "stock_projections"
    __table_args__ = (Index("ix_stock_projections_risk", "at_risk", "stockout_at"),)
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    warehouse: Mapped[str] = mapped_column(String(32), primary_key=True)
    available: Mapped[int] = mapped_column(Integer)
    backordered: Mapped[int] = mapped_column(Integer)
    inbound: Mapped[int] = mapped_column(Integer)
    next_inbound_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)
    stockout_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)
    sure_stockout_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)
    at_risk: Mapped[bool] = mapped_column(Boolean)
    open_orders: Mapped[int] = mapped_column(Integer)
    lead_time_days: Mapped[float] = mapped_column(Float)
    lead_time_sd_days: Mapped[float] = mapped_column(Float)
    lead_time_demand: Mapped[float] = mapped_column(Float)
    safety_stock: Mapped[int] = mapped_column(Integer)
    reorder_point: Mapped[int] = mapped_column(Integer)
    suggested_quantity: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(TS)


class StockAlertRow(Base):
    """`stockout_predicted`: one open alert per SKU x warehouse at most; it clears by itself."""

    __tablename__ = "stock_alerts"
    __table_args__ = (Index("ix_stock_alerts_open", "warehouse", "sku", "cleared_at"),)
    alert_id: Mapped[str] = mapped_column(String(160), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    warehouse: Mapped[str] = mapped_column(String(32))
    sku: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    raised_at: Mapped[datetime] = mapped_column(TS)
    cleared_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)
