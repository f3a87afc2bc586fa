"""What the operations console keeps and reads beyond the API's own queries: sign-in sessions, and the
dashboard's counts (open exceptions by kind and age, orders at risk by ship_by)."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.sql import utcnow
from store.tables import ApiKey, ConsoleSession, OrderExceptionRow, OrderRow


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SignedIn:
    token: str  # the cookie's value: leaves this module once, here
    csrf_token: str
    expires_at: datetime


async def open_session(session: AsyncSession, key_id: str, lasts: timedelta) -> SignedIn:
    """A new session for the key; expired sessions of every key are swept on the way."""
    now = utcnow()
    await session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= now))
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(
            token_hash=hash_token(token), key_id=key_id, csrf_token=csrf, created_at=now, expires_at=now + lasts
        )
    )
    await session.flush()
    return SignedIn(token, csrf, now + lasts)


async def find_session(session: AsyncSession, token: str) -> tuple[ConsoleSession, ApiKey] | None:
    """The unexpired session with this token, with its key; None once the key is revoked."""
    if len(token) > 100:
        return None
    query = (
        select(ConsoleSession, ApiKey)
        .join(ApiKey, ApiKey.key_id == ConsoleSession.key_id)
        .where(
            ConsoleSession.token_hash == hash_token(token),
            ConsoleSession.expires_at > utcnow(),
            ApiKey.revoked_at.is_(None),
        )
    )
    row = (await session.execute(query)).first()
    return (row[0], row[1]) if row else None


async def close_session(session: AsyncSession, token: str) -> None:
    await session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == hash_token(token)))


# The dashboard's age buckets, in hours: under 1, 1-4, 4-24, a day or more.
AGE_BUCKETS_H = (1, 4, 24)


@dataclass(frozen=True)
class ExceptionCount:
    kind: str
    by_age: tuple[int, ...]  # one count per bucket: len(AGE_BUCKETS_H) + 1

    @property
    def total(self) -> int:
        return sum(self.by_age)


async def open_exceptions_by_kind(session: AsyncSession, now: datetime) -> list[ExceptionCount]:
    """Open exceptions counted per kind and age bucket, the largest kind first (counted in the database:
    the dashboard asks every second)."""
    edges = [now - timedelta(hours=h) for h in AGE_BUCKETS_H]
    bucket = case(*((OrderExceptionRow.raised_at > edge, i) for i, edge in enumerate(edges)), else_=len(AGE_BUCKETS_H))
    query = (
        select(OrderExceptionRow.kind, bucket, func.count())
        .where(OrderExceptionRow.resolved_at.is_(None))
        .group_by(OrderExceptionRow.kind, bucket)
    )
    counts: dict[str, list[int]] = {}
    for kind, at, n in (await session.execute(query)).all():
        counts.setdefault(kind, [0] * (len(AGE_BUCKETS_H) + 1))[int(at)] += int(n)
    return sorted((ExceptionCount(k, tuple(v)) for k, v in counts.items()), key=lambda c: (-c.total, c.kind))


async def orders_at_risk(session: AsyncSession, channel: str | None, limit: int) -> list[OrderRow]:
    """Orders flagged at risk of missing ship_by, the soonest first, then those without one (a channel's
    own, for a channel key). Two reads, each in the order of ix_orders_at_risk: no sort of every order
    at risk to show the first few."""
    found: list[OrderRow] = []
    for dated in (True, False):
        query = select(OrderRow).where(
            OrderRow.at_risk.is_(True), OrderRow.ship_by.is_not(None) if dated else OrderRow.ship_by.is_(None)
        )
        if channel is not None:
            query = query.where(OrderRow.channel == channel)
        query = query.order_by(OrderRow.ship_by, OrderRow.order_id).limit(limit - len(found))
        found += (await session.execute(query)).scalars()
        if len(found) >= limit:
            break
    return found


async def exceptions_raised_per_hour(session: AsyncSession, since: datetime) -> list[datetime]:
    """When each exception since `since` was raised (the dashboard bins them by hour)."""
    query = select(OrderExceptionRow.raised_at).where(OrderExceptionRow.raised_at >= since)
    return [r for (r,) in (await session.execute(query)).all()]


@dataclass(frozen=True)
class QueueFilter:
    kind: str | None = None
    raised_before: datetime | None = None  # at least this old
    min_level: int | None = None  # escalated at least this far
    channel: str | None = None


async def exception_queue(
    session: AsyncSession, filters: QueueFilter, limit: int
) -> list[tuple[OrderExceptionRow, OrderRow]]:
    """Open exceptions, oldest first, each with its order: the queue the console filters."""
    conditions: list[Any] = [OrderExceptionRow.resolved_at.is_(None)]
    if filters.kind:
        conditions.append(OrderExceptionRow.kind == filters.kind)
    if filters.raised_before:
        conditions.append(OrderExceptionRow.raised_at <= filters.raised_before)
    if filters.min_level is not None:
        conditions.append(OrderExceptionRow.escalation_level >= filters.min_level)
    if filters.channel:
        conditions.append(OrderRow.channel == filters.channel)
    query = (
        select(OrderExceptionRow, OrderRow)
        .join(OrderRow, OrderRow.order_id == OrderExceptionRow.order_id)
        .where(*conditions)
        .order_by(OrderExceptionRow.raised_at, OrderExceptionRow.exception_id)
        .limit(limit)
    )
    return [(e, o) for e, o in (await session.execute(query)).all()]


async def count_open_exceptions(session: AsyncSession) -> int:
    query = select(func.count()).select_from(OrderExceptionRow).where(OrderExceptionRow.resolved_at.is_(None))
    return int((await session.execute(query)).scalar_one())
