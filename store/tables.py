"""The read model and the business records. Uniqueness of business keys is what makes steps idempotent."""

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from store.crypto import SealedText

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are UTC everywhere; SQLite forgets the zone, so put it back on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


TS = UTCDateTime()
PEOPLE_ONLY = "actor LIKE 'key:%'"  # timeline entries by a person (domain.kpis.PERSON_PREFIX)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


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


class OrderRow(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index("ix_orders_status_created", "status", "created_at"),
        Index("ix_orders_created", "created_at", "order_id"),
        Index("ix_orders_customer", "customer_id"),
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
    __table_args__ = (
        UniqueConstraint("order_id", "key"),
        Index("ix_order_events_occurred", "occurred_at", "status"),
        # People's actions by time (GET /v1/kpis): a query names PEOPLE_ONLY literally so the index applies.
        Index(
            "ix_order_events_people",
            "occurred_at",
            "actor",
            "order_id",
            sqlite_where=text(PEOPLE_ONLY),
            postgresql_where=text(PEOPLE_ONLY),
        ),
    )
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


class ApiKey(Base):
    """A caller of the API. Only the SHA-256 of the secret is kept: it is shown once, at creation."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint(
            "role IN ('channel', 'handler', 'admin', 'viewer', 'partner', 'rules_editor')", name="role_known"
        ),
        CheckConstraint("(role = 'channel') = (channel IS NOT NULL)", name="channel_iff_channel_role"),
    )
    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # A partner key acts for this partner's warehouses or carrier only; unbound, it acts on nothing.
    partner_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(TS)
    revoked_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)


class AuditEntry(Base):
    """One state-changing request: who, what, when and how it ended. Append-only."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_order", "order_id", "id"),
        Index("ix_audit_log_actor", "key_id", "id"),
    )
    # 64-bit: an audit log outlives 2^31 requests. SQLite numbers rows only in an INTEGER primary key.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(TS, index=True)
    request_id: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    actor: Mapped[str] = mapped_column(String(100))
    role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(500))
    order_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    status: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))  # succeeded | refused | failed


class IdempotencyRecord(Base):
    """The first answer to a POST sent with an Idempotency-Key, per API key, for replay to retries."""

    __tablename__ = "idempotency_records"
    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    # NULL while the first request is still running: a retry then gets 409.
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    body: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    created_at: Mapped[datetime] = mapped_column(TS)
    expires_at: Mapped[datetime] = mapped_column(TS, index=True)


class EventRow(Base):
    """The outbox: business events written with the change that caused them, relayed once committed."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_undispatched", "dispatched_at", "seq"),
        Index("ix_events_unpublished", "published_at", "seq"),
        Index("ix_events_order", "order_id", "seq"),
    )
    # Ordering of the outbox (the relay takes the oldest first); the event id is the business key.
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    type: Mapped[str] = mapped_column(String(64), index=True)
    order_id: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(TS)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(TS)
    # Two consumers, each with its own mark, so one that is away does not hold up the other:
    # webhook deliveries started, and published to the message bus (or no bus was configured then).
    dispatched_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)


class WebhookSubscription(Base):
    """Where to POST which events. The secret signs each delivery, so it is kept readable, encrypted at
    rest (store/crypto.py). After a rotation the previous secret signs too, until it expires."""

    __tablename__ = "webhook_subscriptions"
    subscription_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list[str]] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(SealedText)
    previous_secret: Mapped[str | None] = mapped_column(SealedText, nullable=True)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)
    # orderflow (Orderflow-Signature) or standard (Standard Webhooks: webhook-id/-timestamp/-signature).
    signing_scheme: Mapped[str] = mapped_column(String(16), default="orderflow", server_default="orderflow")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(TS)
    updated_at: Mapped[datetime] = mapped_column(TS)


class WebhookDeliveryRow(Base):
    """One event to one subscription: every attempt counted, the last answer kept; `failed` is a dead letter."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),
        Index("ix_webhook_deliveries_listing", "subscription_id", "status", "created_at"),
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status_known"),
    )
    delivery_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(36))
    event_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    redeliveries: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(TS)
    updated_at: Mapped[datetime] = mapped_column(TS)
    delivered_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)


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


class PartnerRow(Base):
    """A warehouse or carrier that reports back through signed callbacks (POST /v1/callbacks/{partner_id}).

    The secret is kept readable, encrypted at rest (store/crypto.py): verifying an HMAC needs it."""

    __tablename__ = "partners"
    partner_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # warehouse | carrier
    warehouses: Mapped[list[str]] = mapped_column(JSON, default=list)  # a warehouse partner's warehouses
    carrier: Mapped[str | None] = mapped_column(String(64), nullable=True)  # a carrier partner's carrier
    secret: Mapped[str] = mapped_column(SealedText)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(TS)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)
    deactivated_at: Mapped[datetime | None] = mapped_column(TS, nullable=True)


class InboundEvent(Base):
    """A partner's event that took effect: a resend of the same ID is answered, not acted on again."""

    __tablename__ = "inbound_events"
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.partner_id"), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of the event as sent, canonical JSON
    order_id: Mapped[str] = mapped_column(String(100), index=True)
    occurred_at: Mapped[datetime] = mapped_column(TS)
    received_at: Mapped[datetime] = mapped_column(TS)


class ConsoleSession(Base):
    """A person signed in to the console with an API key. Only the SHA-256 of the cookie's token is kept."""

    __tablename__ = "console_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.key_id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(TS)
    expires_at: Mapped[datetime] = mapped_column(TS, index=True)


# ---- foresight: inbound stock, demand history, forecasts, projections (docs/foresight.md) ----------


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


class RuleRow(Base):
    """A business rule: its versions are in rule_versions; `active_version` is the one that runs."""

    __tablename__ = "rules"
    rule_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # draft | active | archived
    latest_version: Mapped[int] = mapped_column(Integer)
    active_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(TS)
    updated_at: Mapped[datetime] = mapped_column(TS)


class RuleVersionRow(Base):
    """One immutable version of a rule, as saved."""

    __tablename__ = "rule_versions"
    rule_id: Mapped[int] = mapped_column(ForeignKey("rules.rule_id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    when: Mapped[str] = mapped_column(Text)
    then: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    priority: Mapped[int] = mapped_column(Integer)
    exclusive: Mapped[bool] = mapped_column(Boolean, default=False)
    active_from: Mapped[datetime | None] = mapped_column(TS, nullable=True)
    active_to: Mapped[datetime | None] = mapped_column(TS, nullable=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(TS)


class RuleFiringRow(Base):
    """A rule version that fired on an order, written by the order's confirm step (once per order)."""

    __tablename__ = "rule_firings"
    __table_args__ = (Index("ix_rule_firings_rule", "rule_id", "id"), UniqueConstraint("order_id", "rule_id"))
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(String(100))
    rule_id: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    did: Mapped[list[str]] = mapped_column(JSON)
    overridden: Mapped[list[str]] = mapped_column(JSON)
    fired_at: Mapped[datetime] = mapped_column(TS)


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
