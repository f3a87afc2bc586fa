"""Retention: delete rows past their table's age, one small batch per transaction, never what is still
needed. Each batch selects at most `limit` primary keys and deletes exactly those, so no statement
holds a lock on more than a batch of rows, and the order path (which never touches old rows) does not
wait for it.

What is still needed, and so never pruned whatever its age:
- an outbox event not yet handed to webhooks or not yet published, or with a delivery still pending;
- a webhook delivery still pending (being tried);
- an import still running, and its rows;
- an idempotency record before its expiry, or whose first request is still running.
Audit rows are written to an export file (JSON lines) before they are deleted (`export_audit`).
"""

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, not_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from domain.events import DELIVERY_PENDING
from domain.imports import ImportStatus
from store.tables import (
    AuditEntry,
    EventRow,
    IdempotencyRecord,
    ImportOrderRow,
    ImportRow,
    InboundEvent,
    WebhookDeliveryRow,
)

# The tables retention knows, by the name its settings use.
TABLES = ("events", "webhook_deliveries", "inbound_events", "idempotency_records", "imports", "audit_log")


def _prunable_events(cutoff: datetime) -> ColumnElement[bool]:
    pending = exists().where(
        WebhookDeliveryRow.event_id == EventRow.event_id, WebhookDeliveryRow.status == DELIVERY_PENDING
    )
    return and_(
        EventRow.created_at < cutoff,
        EventRow.dispatched_at.is_not(None),
        EventRow.published_at.is_not(None),
        not_(pending),
    )


async def _prune_by(session: AsyncSession, table: Any, keys: list[Any], where: ColumnElement[bool], limit: int) -> int:
    found = (await session.execute(select(*keys).where(where).order_by(*keys).limit(limit))).all()
    if not found:
        return 0
    if len(keys) == 1:
        await session.execute(delete(table).where(keys[0].in_([row[0] for row in found])))
    else:
        await session.execute(delete(table).where(tuple_(*keys).in_([tuple(row) for row in found])))
    return len(found)


async def prune_batch(session: AsyncSession, table: str, cutoff: datetime, limit: int, now: datetime) -> int:
    """Delete at most `limit` rows of `table` older than `cutoff` that nothing needs; how many went."""
    if table == "events":
        return await _prune_by(session, EventRow, [EventRow.seq], _prunable_events(cutoff), limit)
    if table == "webhook_deliveries":
        settled = and_(WebhookDeliveryRow.updated_at < cutoff, WebhookDeliveryRow.status != DELIVERY_PENDING)
        return await _prune_by(session, WebhookDeliveryRow, [WebhookDeliveryRow.delivery_id], settled, limit)
    if table == "inbound_events":
        old = InboundEvent.received_at < cutoff
        return await _prune_by(session, InboundEvent, [InboundEvent.partner_id, InboundEvent.event_id], old, limit)
    if table == "idempotency_records":
        done = and_(
            IdempotencyRecord.created_at < cutoff,
            IdempotencyRecord.expires_at < now,
            IdempotencyRecord.status.is_not(None),
        )
        keys = [IdempotencyRecord.key_id, IdempotencyRecord.idempotency_key]
        return await _prune_by(session, IdempotencyRecord, keys, done, limit)
    if table == "imports":
        return await _prune_imports(session, cutoff, limit)
    if table == "audit_log":
        raise ValueError("the audit log is pruned with export_audit, which keeps a copy first")
    raise ValueError(f"unknown table {table!r}; retention knows {', '.join(TABLES)}")


async def _prune_imports(session: AsyncSession, cutoff: datetime, limit: int) -> int:
    """A finished import's rows first (in batches), then the import itself once it has none left."""
    finished = and_(ImportRow.finished_at < cutoff, ImportRow.status == ImportStatus.COMPLETED.value)
    old_import = select(ImportRow.import_id).where(finished).order_by(ImportRow.import_id).limit(1)
    import_id = (await session.execute(old_import)).scalar_one_or_none()
    if import_id is None:
        return 0
    keys = [ImportOrderRow.import_id, ImportOrderRow.seq]
    deleted = await _prune_by(session, ImportOrderRow, keys, ImportOrderRow.import_id == import_id, limit)
    if deleted < limit:
        await session.execute(delete(ImportRow).where(ImportRow.import_id == import_id))
        deleted += 1
    return deleted


async def export_audit(
    session: AsyncSession, cutoff: datetime, limit: int, directory: Path, write: Callable[[Path, str], Awaitable[None]]
) -> int:
    """Write the oldest audit rows before `cutoff` (at most `limit`) to a JSON-lines file in `directory`,
    then delete them; how many. The file is written (by `write`, which must make it durable) before the
    rows go, so a crash between the two leaves a copy and the rows, never neither."""
    rows = list(
        (
            await session.execute(
                select(AuditEntry).where(AuditEntry.occurred_at < cutoff).order_by(AuditEntry.id).limit(limit)
            )
        ).scalars()
    )
    if not rows:
        return 0
    lines = [
        json.dumps(
            {
                "id": r.id,
                "occurred_at": r.occurred_at.isoformat(),
                "request_id": r.request_id,
                "key_id": r.key_id,
                "actor": r.actor,
                "role": r.role,
                "method": r.method,
                "path": r.path,
                "order_id": r.order_id,
                "status": r.status,
                "outcome": r.outcome,
            },
            separators=(",", ":"),
        )
        for r in rows
    ]
    await write(directory / f"audit-{rows[0].id:012d}-{rows[-1].id:012d}.jsonl", "\n".join(lines) + "\n")
    await session.execute(delete(AuditEntry).where(AuditEntry.id.in_([r.id for r in rows])))
    return len(rows)
