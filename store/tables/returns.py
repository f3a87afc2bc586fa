"""Returns (RMA) and the credit notes that refund them."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.tables.base import TS, Base


class ReturnRow(Base):
    """A return (RMA): the read model its workflow writes at every change."""

    __tablename__ = "returns"
    __table_args__ = (Index("ix_returns_created", "created_at", "return_id"),)
    return_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id"), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    # [{sku, quantity, reason}] as requested; [{sku, quantity, disposition}] as the warehouse reported.
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    received: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str] = mapped_column(String(100))
    label: Mapped[str | None] = mapped_column(String(64), nullable=True)
    refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    # [{at, event, detail, actor}]: the return's own timeline.
    events: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(TS)
    updated_at: Mapped[datetime] = mapped_column(TS)


class CreditNote(Base):
    """A refund: credit against the invoice(s) the returned units were billed on. One per return."""

    __tablename__ = "credit_notes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)  # "{return_id}:refund"
    number: Mapped[str] = mapped_column(String(32), unique=True)
    return_id: Mapped[str] = mapped_column(ForeignKey("returns.return_id"), index=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # [{invoice_number, sku, quantity, unit_price}]
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    issued_at: Mapped[datetime] = mapped_column(TS)
