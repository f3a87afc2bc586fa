"""Integration partners and the events they sent that took effect."""

import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.deliveries import SECRET_PREFIX, Partner, PartnerKind
from store.sql import insert_ignore, utcnow
from store.tables import InboundEvent, PartnerRow


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def partner_of(row: PartnerRow) -> Partner:
    return Partner(row.partner_id, PartnerKind(row.kind), tuple(row.warehouses or ()), row.carrier)


async def create(
    session: AsyncSession,
    partner_id: str,
    name: str,
    kind: PartnerKind,
    warehouses: list[str],
    carrier: str | None,
    secret: str | None = None,
) -> PartnerRow | None:
    """The new partner; None when the ID is taken."""
    created = await insert_ignore(
        session,
        PartnerRow.__table__,  # type: ignore[arg-type]
        [
            {
                "partner_id": partner_id,
                "name": name,
                "kind": kind.value,
                "warehouses": warehouses,
                "carrier": carrier,
                "secret": secret or new_secret(),
                "active": True,
                "created_at": utcnow(),
            }
        ],
        on=["partner_id"],
    )
    return await get(session, partner_id) if created else None


async def get(session: AsyncSession, partner_id: str) -> PartnerRow | None:
    return await session.get(PartnerRow, partner_id)


async def active(session: AsyncSession, partner_id: str) -> PartnerRow | None:
    row = await get(session, partner_id)
    return row if row is not None and row.active else None


async def page(session: AsyncSession, after: str | None, limit: int) -> list[PartnerRow]:
    query = select(PartnerRow).order_by(PartnerRow.partner_id).limit(limit)
    if after:
        query = query.where(PartnerRow.partner_id > after)
    return list((await session.execute(query)).scalars())


async def rotate(session: AsyncSession, partner_id: str, secret: str | None = None) -> PartnerRow | None:
    row = await session.get(PartnerRow, partner_id, with_for_update=True)
    if row is not None:
        row.secret = secret or new_secret()
        row.secret_rotated_at = utcnow()
    return row


async def deactivate(session: AsyncSession, partner_id: str) -> PartnerRow | None:
    row = await session.get(PartnerRow, partner_id, with_for_update=True)
    if row is not None and row.active:
        row.active = False
        row.deactivated_at = utcnow()
    return row


async def recorded_event(session: AsyncSession, partner_id: str, event_id: str) -> InboundEvent | None:
    return await session.get(InboundEvent, (partner_id, event_id))


async def record_event(
    session: AsyncSession,
    partner_id: str,
    event_id: str,
    type_: str,
    fingerprint: str,
    order_id: str,
    occurred_at: datetime,
) -> bool:
    """Record an event once it took effect; False when a concurrent resend recorded it first."""
    return bool(
        await insert_ignore(
            session,
            InboundEvent.__table__,  # type: ignore[arg-type]
            [
                {
                    "partner_id": partner_id,
                    "event_id": event_id,
                    "type": type_,
                    "fingerprint": fingerprint,
                    "order_id": order_id,
                    "occurred_at": occurred_at,
                    "received_at": utcnow(),
                }
            ],
            on=["partner_id", "event_id"],
        )
    )
