"""The outbox of business events and their webhook subscriptions and deliveries."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.crypto import SealedText
from store.tables.base import TS, Base


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
