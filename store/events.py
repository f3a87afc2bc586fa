"""The event outbox, webhook subscriptions and their deliveries."""

import secrets
from datetime import datetime
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


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


async def create_subscription(
    session: AsyncSession, url: str, event_types: list[str], secret: str, active: bool
) -> WebhookSubscription:
    now = utcnow()
    subscription = WebhookSubscription(
        subscription_id=f"wh_{secrets.token_hex(8)}",
        url=url,
        event_types=event_types,
        secret=secret,
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


async def record_attempt(
    session: AsyncSession, delivery_id: str, status_code: int | None, error: str | None
) -> WebhookDeliveryRow | None:
    """Count one attempt and keep its answer; a 2xx marks the delivery delivered."""
    delivery = await session.get(WebhookDeliveryRow, delivery_id, with_for_update=True)
    if delivery is None:
        return None
    now = utcnow()
    delivery.attempts += 1
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
