"""Idempotency records: the first answer to a request, kept for the retries of the same request.

The primary key (API key, Idempotency-Key) is what makes two concurrent requests with one key
resolve to one claim: the second insert finds the first row.
"""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.sql import insert_ignore, utcnow
from store.tables import IdempotencyRecord

# A claim older than this with no answer belongs to a request whose process died; a retry may take it.
IN_FLIGHT_STALE = timedelta(minutes=2)


async def claim(
    session: AsyncSession, key_id: str, idempotency_key: str, request_hash: str, ttl: timedelta
) -> IdempotencyRecord | None:
    """None when this request now holds the key and should run; else the record already there."""
    now = utcnow()
    row: dict[str, Any] = {
        "key_id": key_id,
        "idempotency_key": idempotency_key,
        "request_hash": request_hash,
        "status": None,
        "headers": {},
        "body": b"",
        "created_at": now,
        "expires_at": now + ttl,
    }
    if await insert_ignore(session, IdempotencyRecord.__table__, [row]):  # type: ignore[arg-type]
        return None
    existing = await session.get(IdempotencyRecord, (key_id, idempotency_key), with_for_update=True)
    if existing is None:  # expired and purged between the two statements
        await insert_ignore(session, IdempotencyRecord.__table__, [row])  # type: ignore[arg-type]
        return None
    abandoned = existing.status is None and existing.created_at < now - IN_FLIGHT_STALE
    if existing.expires_at <= now or abandoned:
        for name, value in row.items():
            setattr(existing, name, value)
        return None
    return existing


async def complete(
    session: AsyncSession, key_id: str, idempotency_key: str, status: int, headers: dict[str, str], body: bytes
) -> None:
    await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.key_id == key_id, IdempotencyRecord.idempotency_key == idempotency_key)
        .values(status=status, headers=headers, body=body)
    )


async def release(session: AsyncSession, key_id: str, idempotency_key: str) -> None:
    """Give the key up (the request failed on our side): a retry runs afresh."""
    await session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.key_id == key_id, IdempotencyRecord.idempotency_key == idempotency_key
        )
    )


async def purge_expired(session: AsyncSession, now: datetime) -> int:
    result = await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < now))
    return int(getattr(result, "rowcount", 0) or 0)
