"""Spreadsheet uploads of orders."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from store.tables.base import TS, Base


class ImportRow(Base):
    """A spreadsheet upload: its orders are in import_orders, started by the ImportBatch workflow."""

    __tablename__ = "imports"
    import_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))  # the uploaded file's name
    format: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    rows: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str | None] = mapped_column(String(32), nullable=True)  # a channel key's channel
    created_at: Mapped[datetime] = mapped_column(TS)
    finished_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)


class ImportOrderRow(Base):
    """One order of an import (or a row that could not be one): its rows, outcome and errors."""

    __tablename__ = "import_orders"
    __table_args__ = (Index("ix_import_orders_outcome", "import_id", "outcome"),)
    import_id: Mapped[str] = mapped_column(ForeignKey("imports.import_id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    channel: Mapped[str] = mapped_column(String(200))
    external_id: Mapped[str] = mapped_column(String(200))
    rows: Mapped[list[int]] = mapped_column(JSON)
    outcome: Mapped[str] = mapped_column(String(16))
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    order: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # the valid order, to start
