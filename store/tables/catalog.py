"""Products, warehouses and stock: levels, holds for orders (reservations), the ledger, backorders, receipts."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from store.tables.base import TS, Base


class Product(Base):
    __tablename__ = "products"
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    unit_price: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(TS)


class Warehouse(Base):
    __tablename__ = "warehouses"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2), default="CN", server_default="CN")
    region: Mapped[str | None] = mapped_column(String(64), nullable=True)
    priority: Mapped[int] = mapped_column(Integer, default=100, server_default="100")  # lower ships first


class Stock(Base):
    __tablename__ = "stock"
    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("reserved <= on_hand", name="available_not_negative"),
    )
    warehouse: Mapped[str] = mapped_column(ForeignKey("warehouses.code"), primary_key=True)
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"), primary_key=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(TS)


class Reservation(Base):
    """Stock held for one planned shipment of an order (an allocation)."""

    __tablename__ = "reservations"
    __table_args__ = (
        Index("ix_reservations_warehouse", "warehouse", "order_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("state IN ('active', 'released', 'consumed')", name="state_known"),
    )
    allocation_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id"), index=True)
    warehouse: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(TS)


class StockMove(Base):
    """The stock ledger: every change to on-hand or reserved quantities, with why and for what."""

    __tablename__ = "stock_ledger"
    __table_args__ = (
        Index("ix_stock_ledger_sku", "sku", "id"),
        CheckConstraint("kind IN ('receipt', 'adjustment', 'reservation', 'release', 'shipment')", name="kind_known"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    warehouse: Mapped[str] = mapped_column(String(32))
    sku: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    on_hand_change: Mapped[int] = mapped_column(Integer)
    reserved_change: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, default="")
    reference: Mapped[str] = mapped_column(String(160), default="")
    occurred_at: Mapped[datetime] = mapped_column(TS)


class Backorder(Base):
    """What an order still waits for; receipts wake these orders, rush first, then oldest."""

    __tablename__ = "backorders"
    __table_args__ = (Index("ix_backorders_sku_queue", "sku", "rush_first", "since"),)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id"), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)
    rush_first: Mapped[int] = mapped_column(Integer)  # 0 rush, 1 standard
    since: Mapped[datetime] = mapped_column(TS)


class Receipt(Base):
    __tablename__ = "receipts"
    __table_args__ = (UniqueConstraint("warehouse", "reference"),)
    receipt_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    warehouse: Mapped[str] = mapped_column(ForeignKey("warehouses.code"))
    reference: Mapped[str] = mapped_column(String(120))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(TS)
