"""Inbound stock: purchase orders and ASNs expected at a warehouse, closed by the receipts against them."""

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.inbound_eta import ExpectedInbound
from domain.steps import StockLine
from store.sql import past_cursor, utcnow
from store.tables import Backorder, InboundLineRow, InboundRow

OPEN_STATUSES = ("open", "partly_received")


@dataclass(frozen=True)
class Inbound:
    row: InboundRow
    lines: list[InboundLineRow]


def new_inbound_id() -> str:
    return f"IB-{secrets.token_hex(6).upper()}"


async def _lines(session: AsyncSession, inbound_ids: Sequence[str]) -> dict[str, list[InboundLineRow]]:
    found: dict[str, list[InboundLineRow]] = {i: [] for i in inbound_ids}
    if inbound_ids:
        rows = await session.execute(
            select(InboundLineRow)
            .where(InboundLineRow.inbound_id.in_(list(inbound_ids)))
            .order_by(InboundLineRow.inbound_id, InboundLineRow.sku)
        )
        for line in rows.scalars():
            found[line.inbound_id].append(line)
    return found


async def get(session: AsyncSession, inbound_id: str, for_update: bool = False) -> Inbound | None:
    row = await session.get(InboundRow, inbound_id, with_for_update=for_update)
    if row is None:
        return None
    return Inbound(row, (await _lines(session, [inbound_id]))[inbound_id])


async def by_reference(session: AsyncSession, warehouse: str, reference: str) -> Inbound | None:
    row = (
        await session.execute(
            select(InboundRow).where(InboundRow.warehouse == warehouse, InboundRow.reference == reference)
        )
    ).scalar_one_or_none()
    return None if row is None else Inbound(row, (await _lines(session, [row.inbound_id]))[row.inbound_id])


async def create(
    session: AsyncSession,
    warehouse: str,
    reference: str,
    expected_at: datetime,
    lines: Sequence[StockLine],
    source: str,
    created_by: str,
) -> tuple[Inbound, bool]:
    """An inbound's business key is (warehouse, reference): sent again, the first one is answered."""
    existing = await by_reference(session, warehouse, reference)
    if existing is not None:
        return existing, False
    now = utcnow()
    row = InboundRow(
        inbound_id=new_inbound_id(),
        warehouse=warehouse,
        reference=reference,
        expected_at=expected_at,
        status="open",
        source=source,
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()  # the inbound before its lines (PostgreSQL checks the foreign key per statement)
    line_rows = [
        InboundLineRow(inbound_id=row.inbound_id, sku=line.sku, quantity=line.quantity, received=0) for line in lines
    ]
    session.add_all(line_rows)
    await session.flush()
    return Inbound(row, sorted(line_rows, key=lambda x: x.sku)), True


def fingerprint(inbound: Inbound) -> list[tuple[str, int]]:
    return [(line.sku, line.quantity) for line in inbound.lines]


async def page(
    session: AsyncSession,
    status: str | None,
    warehouse: str | None,
    sku: str | None,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[Inbound]:
    """By expected date, soonest first."""
    query = select(InboundRow).order_by(InboundRow.expected_at, InboundRow.inbound_id).limit(limit)
    if status == "open_any":
        query = query.where(InboundRow.status.in_(OPEN_STATUSES))
    elif status:
        query = query.where(InboundRow.status == status)
    if warehouse:
        query = query.where(InboundRow.warehouse == warehouse)
    if sku:
        query = query.where(
            InboundRow.inbound_id.in_(select(InboundLineRow.inbound_id).where(InboundLineRow.sku == sku))
        )
    if after:
        query = query.where(past_cursor(InboundRow.expected_at, InboundRow.inbound_id, after, newest_first=False))
    rows = list((await session.execute(query)).scalars())
    lines = await _lines(session, [r.inbound_id for r in rows])
    return [Inbound(r, lines[r.inbound_id]) for r in rows]


async def reschedule(session: AsyncSession, inbound: Inbound, expected_at: datetime) -> None:
    inbound.row.expected_at = expected_at
    inbound.row.updated_at = utcnow()
    await session.flush()


async def close(session: AsyncSession, inbound: Inbound) -> None:
    """What has not arrived is not coming: the rest no longer counts as inbound."""
    if inbound.row.status in OPEN_STATUSES:
        inbound.row.status = "closed"
        inbound.row.updated_at = utcnow()
        await session.flush()


async def apply_receipt(session: AsyncSession, inbound: Inbound, lines: Sequence[StockLine]) -> None:
    """A receipt against the inbound: what arrived counts against its lines; all in → received."""
    if inbound.row.status not in OPEN_STATUSES:
        return
    arrived: dict[str, int] = {}
    for line in lines:
        arrived[line.sku] = arrived.get(line.sku, 0) + line.quantity
    for line_row in inbound.lines:
        line_row.received += arrived.get(line_row.sku, 0)
    now = utcnow()
    complete = all(line_row.received >= line_row.quantity for line_row in inbound.lines)
    inbound.row.status = "received" if complete else "partly_received"
    inbound.row.received_at = now
    inbound.row.updated_at = now
    await session.flush()


async def against(session: AsyncSession, warehouse: str, reference: str, inbound_id: str | None) -> Inbound | None:
    """The inbound a receipt delivers: the one named, else one of the warehouse with the receipt's
    reference. Raises LookupError if the one named is not this warehouse's."""
    if inbound_id is None:
        return await by_reference(session, warehouse, reference)
    named = await get(session, inbound_id, for_update=True)
    if named is None or named.row.warehouse != warehouse:
        raise LookupError(f"inbound {inbound_id} is not expected at {warehouse}")
    return named


async def expected_for(session: AsyncSession, skus: Sequence[str]) -> list[ExpectedInbound]:
    """Open inbound still to come for these SKUs, soonest first."""
    rows = await session.execute(
        select(
            InboundRow.inbound_id,
            InboundRow.reference,
            InboundRow.warehouse,
            InboundLineRow.sku,
            InboundLineRow.quantity - InboundLineRow.received,
            InboundRow.expected_at,
        )
        .join(InboundLineRow, InboundLineRow.inbound_id == InboundRow.inbound_id)
        .where(
            InboundRow.status.in_(OPEN_STATUSES),
            InboundLineRow.sku.in_(list(skus)),
            InboundLineRow.quantity > InboundLineRow.received,
        )
        .order_by(InboundRow.expected_at, InboundRow.inbound_id)
    )
    return [ExpectedInbound(i, r, w, s, int(q), at) for i, r, w, s, q, at in rows.all()]


async def backordered_skus(session: AsyncSession, order_id: str) -> list[str]:
    rows = await session.execute(select(Backorder.sku).where(Backorder.order_id == order_id).order_by(Backorder.sku))
    return list(rows.scalars())


async def lead_time_spread(session: AsyncSession) -> dict[str, tuple[float, float, int]]:
    """Per warehouse, from inbound received in full: mean and standard deviation of days from
    creation to the last receipt, and how many inbound that is."""
    rows = await session.execute(
        select(InboundRow.warehouse, InboundRow.created_at, InboundRow.received_at).where(
            InboundRow.status == "received", InboundRow.received_at.is_not(None)
        )
    )
    days: dict[str, list[float]] = {}
    for warehouse, created, received in rows.all():
        if received is None:
            continue
        days.setdefault(warehouse, []).append((received - created).total_seconds() / 86400)
    spread = {}
    for warehouse, values in days.items():
        mean = sum(values) / len(values)
        var = sum((v - mean) ** 2 for v in values) / max(len(values) - 1, 1)
        spread[warehouse] = (mean, var**0.5, len(values))
    return spread
