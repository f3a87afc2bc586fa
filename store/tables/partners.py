"""Warehouses and carriers that report back through signed callbacks, and the events they sent."""

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from store.crypto import SealedText
from store.tables.base import TS, Base


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
