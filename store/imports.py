"""Imports and their orders: what was uploaded, and what became of each order."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.imports import ImportOutcome, ImportStatus
from store.sql import utcnow
from store.tables import ImportOrderRow, ImportRow, OrderRow


@dataclass(frozen=True)
class NewImportOrder:
    order_id: str | None
    channel: str
    external_id: str
    rows: list[int]
    errors: list[dict[str, Any]]
    order: dict[str, Any] | None  # None: invalid


async def create(session: AsyncSession, row: ImportRow, imported: Sequence[NewImportOrder]) -> None:
    session.add(row)
    await session.flush()
    if imported:
        await session.execute(
            ImportOrderRow.__table__.insert(),  # type: ignore[attr-defined]
            [
                {
                    "import_id": row.import_id,
                    "seq": seq,
                    "order_id": item.order_id,
                    "channel": item.channel,
                    "external_id": item.external_id,
                    "rows": item.rows,
                    "outcome": (ImportOutcome.PENDING if item.order is not None else ImportOutcome.INVALID).value,
                    "errors": item.errors,
                    "order": item.order,
                }
                for seq, item in enumerate(imported)
            ],
        )


async def remove(session: AsyncSession, import_id: str) -> None:
    await session.execute(delete(ImportOrderRow).where(ImportOrderRow.import_id == import_id))
    await session.execute(delete(ImportRow).where(ImportRow.import_id == import_id))


async def get(session: AsyncSession, import_id: str) -> ImportRow | None:
    return await session.get(ImportRow, import_id)


async def counts(session: AsyncSession, import_id: str) -> dict[ImportOutcome, int]:
    result = await session.execute(
        select(ImportOrderRow.outcome, func.count())
        .where(ImportOrderRow.import_id == import_id)
        .group_by(ImportOrderRow.outcome)
    )
    found = {ImportOutcome(outcome): int(n) for outcome, n in result.all()}
    return {outcome: found.get(outcome, 0) for outcome in ImportOutcome}


async def orders_of(
    session: AsyncSession,
    import_id: str,
    outcome: ImportOutcome | None = None,
    after_seq: int | None = None,
    limit: int | None = None,
) -> Sequence[ImportOrderRow]:
    """An import's orders in file order: those after `after_seq`, of one outcome when given, at most `limit`."""
    query = select(ImportOrderRow).where(ImportOrderRow.import_id == import_id)
    if outcome is not None:
        query = query.where(ImportOrderRow.outcome == outcome.value)
    if after_seq is not None:
        query = query.where(ImportOrderRow.seq > after_seq)
    query = query.order_by(ImportOrderRow.seq)
    if limit is not None:
        query = query.limit(limit)
    result = await session.execute(query)
    return result.scalars().all()


async def pending(session: AsyncSession, import_id: str, first: int, last: int) -> Sequence[ImportOrderRow]:
    """The orders numbered first..last whose workflows have not been started by this import yet."""
    result = await session.execute(
        select(ImportOrderRow)
        .where(
            ImportOrderRow.import_id == import_id,
            ImportOrderRow.seq >= first,
            ImportOrderRow.seq <= last,
            ImportOrderRow.outcome == ImportOutcome.PENDING.value,
        )
        .order_by(ImportOrderRow.seq)
    )
    return result.scalars().all()


async def fingerprints(session: AsyncSession, order_ids: Sequence[str]) -> dict[str, str]:
    """The recorded fingerprint of each of these orders that the read model holds."""
    if not order_ids:
        return {}
    result = await session.execute(
        select(OrderRow.order_id, OrderRow.fingerprint).where(OrderRow.order_id.in_(order_ids))
    )
    return {row.order_id: row.fingerprint for row in result}


async def settle(
    session: AsyncSession, import_id: str, seq: int, outcome: ImportOutcome, errors: list[dict[str, Any]]
) -> None:
    """Record an order's outcome once: a pending order only."""
    await session.execute(
        update(ImportOrderRow)
        .where(
            ImportOrderRow.import_id == import_id,
            ImportOrderRow.seq == seq,
            ImportOrderRow.outcome == ImportOutcome.PENDING.value,
        )
        .values(outcome=outcome.value, errors=errors)
    )


async def finish(session: AsyncSession, import_id: str) -> None:
    await session.execute(
        update(ImportRow)
        .where(ImportRow.import_id == import_id, ImportRow.status == ImportStatus.RUNNING.value)
        .values(status=ImportStatus.COMPLETED.value, finished_at=utcnow())
    )
