"""The audit log: one row per state-changing request, never updated."""

from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.sql import utcnow
from store.tables import AuditEntry


@dataclass(frozen=True)
class Request:
    request_id: str
    key_id: str | None
    actor: str
    role: str | None
    method: str
    path: str
    order_id: str | None
    status: int


def outcome_of(status: int, replayed: bool = False) -> str:
    if replayed:
        return "replayed"
    return "succeeded" if status < 400 else ("refused" if status < 500 else "failed")


# Built once: the API writes one row per state-changing request.
_RECORD = insert(AuditEntry)


async def record(session: AsyncSession, request: Request, replayed: bool = False) -> None:
    row = {
        "occurred_at": utcnow(),
        "request_id": request.request_id[:64],
        "key_id": request.key_id,
        "actor": request.actor[:100],
        "role": request.role,
        "method": request.method[:8],
        "path": request.path[:500],
        "order_id": request.order_id[:100] if request.order_id else None,
        "status": request.status,
        "outcome": outcome_of(request.status, replayed),
    }
    await session.execute(_RECORD, row)


async def record_once(session: AsyncSession, request: Request) -> bool:
    """Record `request` unless a row with its request ID for its order is there already (a retried
    activity); True when written."""
    seen = await session.execute(
        select(AuditEntry.id)
        .where(AuditEntry.request_id == request.request_id[:64], AuditEntry.order_id == request.order_id)
        .limit(1)
    )
    if seen.first() is not None:
        return False
    await record(session, request)
    return True


async def page(
    session: AsyncSession,
    order_id: str | None,
    key_id: str | None,
    actor: str | None,
    before: int | None,
    limit: int,
) -> list[AuditEntry]:
    """Newest first; `before` is the last id of the previous page."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if order_id is not None:
        query = query.where(AuditEntry.order_id == order_id)
    if key_id is not None:
        query = query.where(AuditEntry.key_id == key_id)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    return list((await session.execute(query)).scalars())
