"""The order read model (written by the workflow's projection) and the records of its fulfilment."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func, text
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, mapped_column

from domain.kpi_tally import epoch_hour
from store.tables.base import TS, Base


def _hour_received(context: DefaultExecutionContext) -> int | None:
    """`kpi_hour` for a row inserted without it (the projection sets it): the hour of `created_at`."""
    created = context.get_current_parameters().get("created_at")  # type: ignore[no-untyped-call]
    return epoch_hour(created) if created is not None else None


class OrderRow(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index("ix_orders_status_created", "status", "created_at"),
        Index("ix_orders_created", "created_at", "order_id"),
        Index("ix_orders_customer", "customer_id", "created_at", "order_id"),
        Index("ix_orders_at_risk", "at_risk", "ship_by", "order_id"),
        Index("ix_orders_external_id", "external_id"),
        # The orders not yet in the KPI rollup, with what store/kpi_read.py counts them by: read from the
        # index alone, and only theirs (an order leaves it when it settles).
        Index(
            "ix_orders_kpi_open",
            "created_at",
            "kpi_hour",
            "kpi_flags",
            "ship_by",
            "kpi_units_ordered",
            "kpi_units_first",
            "kpi_settled",  # SQLite reads the partial index alone only when it holds its own condition's column
            sqlite_where=text("kpi_settled = 0"),
            postgresql_where=text("kpi_settled = false"),
        ),
    )
    order_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(String(64))
    customer_name: Mapped[str] = mapped_column(String(200))
    customer_email: Mapped[str] = mapped_column(String(254))
    ship_to: Mapped[dict[str, Any]] = mapped_column(JSON)
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[int] = mapped_column(BigInteger)
    priority: Mapped[str] = mapped_column(String(16))
    ship_by: Mapped[datetime | None] = mapped_column(TS, nullable=True)
    status: Mapped[str] = mapped_column(String(32))
    # The workflow numbers its writes; a status only replaces one with a lower number.
    status_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    at_risk: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(TS)
    updated_at: Mapped[datetime] = mapped_column(TS)
    # What the KPIs need to know about the order, kept by the projection's status write
    # (store/kpi_rollup.py): domain.kpi_marks bits, and `kpi_new` the bits that write newly set.
    # created_at's hour since 1970
    kpi_hour: Mapped[int | None] = mapped_column(Integer, nullable=True, default=_hour_received)
    kpi_flags: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    kpi_new: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    kpi_settled: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")  # in the rollup
    kpi_shipped_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)  # the last shipment
    kpi_delivered_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)
    kpi_warned_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)  # the first sla_at_risk alert
    kpi_units_ordered: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    kpi_units_first: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: never allocated


# Customer search (GET /v1/orders?customer=, the console's orders page): e-mail and name whole, any case,
# newest first, read in index order however many orders the customer has.
Index("ix_orders_customer_email_ci", func.lower(OrderRow.customer_email), OrderRow.created_at, OrderRow.order_id)
Index("ix_orders_customer_name_ci", func.lower(OrderRow.customer_name), OrderRow.created_at, OrderRow.order_id)


class OrderLineRow(Base):
    __tablename__ = "order_lines"
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id"), primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(BigInteger)
    gift: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")  # added by a business rule


class OrderEvent(Base):
    """Append-only timeline; (order_id, key) makes each projected event land once."""

    __tablename__ = "order_events"
    __table_args__ = (UniqueConstraint("order_id", "key"), Index("ix_order_events_occurred", "occurred_at", "status"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id"), index=True)
    key: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(32))
    event: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(100), default="system")
    occurred_at: Mapped[datetime] = mapped_column(TS)


class OrderExceptionRow(Base):
    __tablename__ = "order_exceptions"
    __table_args__ = (
        Index("ix_order_exceptions_open", "resolved_at", "raised_at"),
        Index("ix_order_exceptions_raised", "raised_at"),
    )
    exception_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id"), index=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    step: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    blocking: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    escalation_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    allowed_actions: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    raised_at: Mapped[datetime] = mapped_column(TS)
    resolved_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)
    resolution: Mapped[str | None] = mapped_column(String(32), nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    # A person's first acknowledgement of one of the exception's alerts (for the KPIs' first human action).
    acknowledged_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)
    # 1 when the write that set resolved_at was the one that resolved it (store/kpi_rollup.py).
    kpi_new: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class AlertRow(Base):
    """An alert is an event: the webhooks and message bus deliver these once they exist."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_raised", "raised_at"),)
    alert_id: Mapped[str] = mapped_column(String(160), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id"), index=True)
    exception_id: Mapped[str | None] = mapped_column(String(120), nullable=True)
    level: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text)
    raised_at: Mapped[datetime] = mapped_column(TS)
    acknowledged_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(100), nullable=True)


class PickList(Base):
    __tablename__ = "pick_lists"
    pick_list_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id"), index=True)
    warehouse: Mapped[str] = mapped_column(String(32))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))  # open | confirmed | cancelled
    created_at: Mapped[datetime] = mapped_column(TS)
    confirmed_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)
    confirmed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)


class Shipment(Base):
    __tablename__ = "shipments"
    __table_args__ = (Index("ix_shipments_carrier", "carrier", "order_id"),)
    shipment_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id"), index=True)
    pick_list_id: Mapped[str] = mapped_column(ForeignKey("pick_lists.pick_list_id"), unique=True)
    carrier: Mapped[str] = mapped_column(String(64))
    tracking_number: Mapped[str] = mapped_column(String(64), unique=True)
    shipped_at: Mapped[datetime] = mapped_column(TS)
    # Reported by the carrier (partner callbacks); written once, the first report wins.
    handed_over_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)
    received_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class Invoice(Base):
    __tablename__ = "invoices"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Business key: one invoice per shipment, "{allocation_id}:invoice".
    key: Mapped[str] = mapped_column(String(150), unique=True)
    number: Mapped[str | None] = mapped_column(String(32), unique=True, nullable=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    lines: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    shipment_id: Mapped[str | None] = mapped_column(String(120), nullable=True)
    issued_at: Mapped[datetime] = mapped_column(TS)


class StepResult(Base):
    """What a step of an order answered the first time it ran, by (order, step run): a run of the same
    step again (a workflow task handed out again replays its local steps) answers the same, whatever
    the order's later steps changed since."""

    __tablename__ = "step_results"
    order_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    step: Mapped[str] = mapped_column(String(64), primary_key=True)  # "reserve:{attempt}", "confirm:{seq}"
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    recorded_at: Mapped[datetime] = mapped_column(TS)
