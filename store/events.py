"""The event outbox, webhook subscriptions and their deliveries."""

import base64
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.events import (
    DELIVERY_DELIVERED,
    DELIVERY_FAILED,
    DELIVERY_PENDING,
    BusinessEvent,
    delivery_id_for,
    matches,
)
from domain.signing import STANDARD_PREFIX, Scheme
from store.sql import insert_ignore, past_cursor, utcnow
from store.tables import EventRow, WebhookDeliveryRow, WebhookSubscription

# ---- the outbox ---------------------------------------------------------------------------------


async def record(session: AsyncSession, events: list[BusinessEvent]) -> int:
    """Add events to the outbox; an event already there (same id) is left as it is. Returns how many are new."""
    now = utcnow()
    return await insert_ignore(
        session,
        EventRow.__table__,  # type: ignore[arg-type]
        [
            {
                "event_id": e.event_id,
                "type": e.type,
                "order_id": e.order_id,
                "occurred_at": e.occurred_at,
                "data": e.data,
                "created_at": now,
            }
            for e in events
        ],
        on=["event_id"],
    )


def to_event(row: EventRow) -> BusinessEvent:
    return BusinessEvent(row.event_id, row.type, row.order_id, row.occurred_at, dict(row.data))


async def undispatched(session: AsyncSession, limit: int) -> list[EventRow]:
    """Events whose webhook deliveries have not been started yet, oldest first."""
    result = await session.execute(
        select(EventRow).where(EventRow.dispatched_at.is_(None)).order_by(EventRow.seq).limit(limit)
    )
    return list(result.scalars())


async def unpublished(session: AsyncSession, limit: int) -> list[EventRow]:
    """Events not on the message bus yet, oldest first."""
    result = await session.execute(
        select(EventRow).where(EventRow.published_at.is_(None)).order_by(EventRow.seq).limit(limit)
    )
    return list(result.scalars())


async def mark_dispatched(session: AsyncSession, seqs: list[int], published: bool = False) -> None:
    """Webhook deliveries started; `published` also marks them as on the bus (none is configured)."""
    if seqs:
        now = utcnow()
        await session.execute(
            update(EventRow)
            .where(EventRow.seq.in_(seqs), EventRow.dispatched_at.is_(None))
            .values(dispatched_at=now, **({"published_at": now} if published else {}))
        )


async def mark_published(session: AsyncSession, seqs: list[int]) -> None:
    if seqs:
        await session.execute(
            update(EventRow)
            .where(EventRow.seq.in_(seqs), EventRow.published_at.is_(None))
            .values(published_at=utcnow())
        )


async def get_event(session: AsyncSession, event_id: str) -> EventRow | None:
    result = await session.execute(select(EventRow).where(EventRow.event_id == event_id))
    return result.scalar_one_or_none()


async def event_page(
    session: AsyncSession, event_type: str | None, order_id: str | None, limit: int, before_seq: int | None
) -> list[EventRow]:
    """Newest first; keyset on seq."""
    conditions: list[Any] = []
    if event_type:
        conditions.append(EventRow.type == event_type)
    if order_id:
        conditions.append(EventRow.order_id == order_id)
    if before_seq is not None:
        conditions.append(EventRow.seq < before_seq)
    result = await session.execute(select(EventRow).where(*conditions).order_by(EventRow.seq.desc()).limit(limit))
    return list(result.scalars())


# ---- subscriptions ------------------------------------------------------------------------------


def new_secret(scheme: Scheme = Scheme.ORDERFLOW) -> str:
    """A signing secret: for Standard Webhooks, `whsec_` and 32 random bytes in base64, as its libraries expect."""
    if scheme is Scheme.STANDARD:
        return STANDARD_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
    return f"whsec_{secrets.token_urlsafe(32)}"


def signing_secrets(subscription: WebhookSubscription, now: datetime) -> list[str]:
    """The secrets a delivery is signed with now: the current one, and the previous one until it expires."""
    expires = subscription.previous_secret_expires_at
    if subscription.previous_secret and expires is not None and expires > now:
        return [subscription.secret, subscription.previous_secret]
    return [subscription.secret]


async def create_subscription(
    session: AsyncSession,
    url: str,
    event_types: list[str],
    secret: str,
    active: bool,
    scheme: Scheme = Scheme.ORDERFLOW,
) -> WebhookSubscription:
    now = utcnow()
    subscription = WebhookSubscription(
        subscription_id=f"wh_{secrets.token_hex(8)}",
        url=url,
        event_types=event_types,
        secret=secret,
        signing_scheme=scheme.value,
        active=active,
        created_at=now,
        updated_at=now,
    )
    session.add(subscription)
    await session.flush()
    return subscription


async def get_subscription(session: AsyncSession, subscription_id: str) -> WebhookSubscription | None:
    return await session.get(WebhookSubscription, subscription_id)


async def subscriptions(session: AsyncSession, limit: int, after: str | None) -> list[WebhookSubscription]:
    query = select(WebhookSubscription).order_by(WebhookSubscription.subscription_id).limit(limit)
    if after:
        query = query.where(WebhookSubscription.subscription_id > after)
    return list((await session.execute(query)).scalars())


async def active_subscriptions(session: AsyncSession) -> list[WebhookSubscription]:
    result = await session.execute(select(WebhookSubscription).where(WebhookSubscription.active.is_(True)))
    return list(result.scalars())


def subscribers_of(subscriptions: list[WebhookSubscription], event_type: str) -> list[WebhookSubscription]:
    return [s for s in subscriptions if matches(s.event_types, event_type)]


async def update_subscription(
    session: AsyncSession, subscription_id: str, **changes: Any
) -> WebhookSubscription | None:
    subscription = await session.get(WebhookSubscription, subscription_id, with_for_update=True)
    if subscription is None:
        return None
    for name, value in changes.items():
        setattr(subscription, name, value)
    subscription.updated_at = utcnow()
    return subscription


async def rotate_secret(
    session: AsyncSession, subscription_id: str, secret: str, overlap: timedelta
) -> WebhookSubscription | None:
    """`secret` signs from now on; the one it replaces signs beside it for `overlap` (none when zero)."""
    subscription = await session.get(WebhookSubscription, subscription_id, with_for_update=True)
    if subscription is None:
        return None
    now = utcnow()
    subscription.previous_secret = subscription.secret if overlap > timedelta(0) else None
    subscription.previous_secret_expires_at = now + overlap if overlap > timedelta(0) else None
    subscription.secret = secret
    subscription.updated_at = now
    return subscription


async def delete_subscription(session: AsyncSession, subscription_id: str) -> bool:
    """The subscription and its delivery records go; deliveries still retrying stop at their next attempt."""
    result = await session.execute(
        delete(WebhookSubscription).where(WebhookSubscription.subscription_id == subscription_id)
    )
    await session.execute(delete(WebhookDeliveryRow).where(WebhookDeliveryRow.subscription_id == subscription_id))
    return bool(getattr(result, "rowcount", 0))


# ---- deliveries ---------------------------------------------------------------------------------


async def open_delivery(session: AsyncSession, subscription_id: str, event: EventRow) -> str:
    """The delivery record of one event to one subscription, created once."""
    delivery_id = delivery_id_for(subscription_id, event.event_id)
    now = utcnow()
    await insert_ignore(
        session,
        WebhookDeliveryRow.__table__,  # type: ignore[arg-type]
        [
            {
                "delivery_id": delivery_id,
                "subscription_id": subscription_id,
                "event_id": event.event_id,
                "event_type": event.type,
                "status": DELIVERY_PENDING,
                "attempts": 0,
                "redeliveries": 0,
                "created_at": now,
                "updated_at": now,
            }
        ],
        on=["delivery_id"],
    )
    return delivery_id


async def get_delivery(session: AsyncSession, delivery_id: str) -> WebhookDeliveryRow | None:
    return await session.get(WebhookDeliveryRow, delivery_id)


# What an attempt that never reported back (its worker was killed mid-request) leaves as its outcome.
CUT_OFF = "the attempt was cut off before its outcome was recorded"


async def start_attempt(session: AsyncSession, delivery_id: str) -> None:
    """Count an attempt before it is made, so one cut off by a worker kill is counted too."""
    await session.execute(
        update(WebhookDeliveryRow)
        .where(WebhookDeliveryRow.delivery_id == delivery_id)
        .values(attempts=WebhookDeliveryRow.attempts + 1, last_status_code=None, last_error=CUT_OFF)
    )


async def record_attempt(
    session: AsyncSession, delivery_id: str, status_code: int | None, error: str | None
) -> WebhookDeliveryRow | None:
    """Keep the answer of the attempt `start_attempt` counted; a 2xx marks the delivery delivered."""
    delivery = await session.get(WebhookDeliveryRow, delivery_id, with_for_update=True)
    if delivery is None:
        return None
    now = utcnow()
    delivery.last_status_code = status_code
    delivery.last_error = error
    delivery.updated_at = now
    if status_code is not None and 200 <= status_code < 300:
        delivery.status = DELIVERY_DELIVERED
        delivery.delivered_at = now
    return delivery


async def dead_letter(session: AsyncSession, delivery_id: str, error: str) -> WebhookDeliveryRow | None:
    """Retries are over: the delivery is failed (unless an attempt got through after all)."""
    delivery = await session.get(WebhookDeliveryRow, delivery_id, with_for_update=True)
    if delivery is None or delivery.status == DELIVERY_DELIVERED:
        return delivery
    delivery.status = DELIVERY_FAILED
    delivery.last_error = error
    delivery.updated_at = utcnow()
    return delivery


async def reopen(session: AsyncSession, delivery: WebhookDeliveryRow) -> int:
    """Back to pending for a redelivery; returns the redelivery's number."""
    delivery.status = DELIVERY_PENDING
    delivery.redeliveries += 1
    delivery.updated_at = utcnow()
    return delivery.redeliveries


async def delivery_page(
    session: AsyncSession,
    subscription_id: str,
    status: str | None,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[WebhookDeliveryRow]:
    """Newest first, keyset on (created_at, delivery_id)."""
    conditions: list[Any] = [WebhookDeliveryRow.subscription_id == subscription_id]
    if status:
        conditions.append(WebhookDeliveryRow.status == status)
    if after:
        conditions.append(past_cursor(WebhookDeliveryRow.created_at, WebhookDeliveryRow.delivery_id, after))
    result = await session.execute(
        select(WebhookDeliveryRow)
        .where(*conditions)
        .order_by(WebhookDeliveryRow.created_at.desc(), WebhookDeliveryRow.delivery_id.desc())
        .limit(limit)
    )
    return list(result.scalars())
