"""Returns and credit notes: what shipped and was billed, what is already on its way back, the return's
read model and the refund's credit note (one per return, by business key)."""

import uuid
from dataclasses import asdict
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.events import RETURN_ALERTS, RETURN_EVENTS, BusinessEvent, event_id
from domain.orders import InvalidField
from domain.returns import (
    LIVE,
    BilledLine,
    NewReturn,
    ReturnView,
    ShippedLine,
    check_request,
    returnable,
)
from domain.steps import StockLine
from store import events
from store.sql import insert_ignore, utcnow
from store.tables import AlertRow, CreditNote, Invoice, OrderRow, PickList, ReturnRow, Shipment


def new_return_id() -> str:
    return f"RMA-{uuid.uuid4().hex[:12].upper()}"


async def shipped(session: AsyncSession, order_id: str) -> list[ShippedLine]:
    result = await session.execute(
        select(PickList.lines, Shipment.shipped_at, Shipment.delivered_at)
        .join(Shipment, Shipment.pick_list_id == PickList.pick_list_id)
        .where(PickList.order_id == order_id)
    )
    return [
        ShippedLine(line["sku"], int(line["quantity"]), shipped_at, delivered_at)
        for lines, shipped_at, delivered_at in result.all()
        for line in lines
    ]


async def shipped_from(session: AsyncSession, order_id: str) -> set[str]:
    """The warehouses the order's shipments left from."""
    result = await session.execute(
        select(PickList.warehouse)
        .join(Shipment, Shipment.pick_list_id == PickList.pick_list_id)
        .where(PickList.order_id == order_id)
    )
    return set(result.scalars())


async def returning(session: AsyncSession, order_id: str) -> list[StockLine]:
    """Units on the order's live returns."""
    result = await session.execute(
        select(ReturnRow.lines).where(ReturnRow.order_id == order_id, ReturnRow.status.in_([s.value for s in LIVE]))
    )
    return [StockLine(line["sku"], int(line["quantity"])) for lines in result.scalars() for line in lines]


async def create(session: AsyncSession, new: NewReturn, window: timedelta) -> list[InvalidField]:
    """Record a requested return, unless its lines cannot be returned (the problems come back).

    The order's row is locked first, so two returns of one order are checked one after the other."""
    order = await session.get(OrderRow, new.order_id, with_for_update=True)
    if order is None:
        return [InvalidField("order_id", f"order {new.order_id} does not exist")]
    now = utcnow()
    shipped_lines = await shipped(session, new.order_id)
    available = returnable(shipped_lines, await returning(session, new.order_id), now, window)
    problems = check_request(new.lines, available, {line.sku for line in shipped_lines})
    if problems:
        return problems
    session.add(
        ReturnRow(
            return_id=new.return_id,
            order_id=new.order_id,
            status="requested",
            currency=new.currency,
            lines=[asdict(line) for line in new.lines],
            note=new.note,
            requested_by=new.requested_by,
            refunded=0,
            events=[],
            created_at=now,
            updated_at=now,
        )
    )
    await session.flush()
    return []


async def write(session: AsyncSession, view: ReturnView) -> None:
    """Bring the read model in line with the workflow's view; each timeline entry is a business event once."""
    row = await session.get(ReturnRow, view.return_id, with_for_update=True)
    if row is None:
        return
    known = len(row.events)
    row.status = view.status.value
    row.received = [{**asdict(line), "disposition": line.disposition.value} for line in view.received] or None
    row.label = view.label
    row.refunded = view.refunded
    row.events = [{**asdict(e), "at": e.at.isoformat()} for e in view.events]
    row.updated_at = utcnow()
    new = [
        BusinessEvent(
            event_id("return", view.return_id, str(i), e.event),
            RETURN_EVENTS[e.event],
            view.order_id,
            e.at,
            {"return_id": view.return_id, "status": view.status.value, "detail": e.detail, "actor": e.actor},
        )
        for i, e in enumerate(view.events)
        if i >= known and e.event in RETURN_EVENTS
    ]
    await events.record(session, new)
    alerts = [
        {
            "alert_id": f"{view.return_id}:{e.event}",
            "kind": f"return_{e.event}",
            "order_id": view.order_id,
            "level": 0,
            "message": f"return {view.return_id}: {e.detail}",
            "raised_at": e.at,
        }
        for i, e in enumerate(view.events)
        if i >= known and e.event in RETURN_ALERTS
    ]
    if alerts:
        await insert_ignore(session, AlertRow.__table__, alerts)  # type: ignore[arg-type]


async def billed(session: AsyncSession, order_id: str) -> list[BilledLine]:
    result = await session.execute(
        select(Invoice.number, Invoice.lines).where(Invoice.order_id == order_id).order_by(Invoice.id)
    )
    return [
        BilledLine(number or "", line["sku"], int(line["quantity"]), int(line["unit_price"]))
        for number, lines in result.all()
        for line in lines or []
    ]


async def credited(session: AsyncSession, order_id: str) -> list[BilledLine]:
    result = await session.execute(select(CreditNote.lines).where(CreditNote.order_id == order_id))
    return [BilledLine(**line) for lines in result.scalars() for line in lines]


def credit_note_key(return_id: str) -> str:
    """The credit note's business key: ours, and the ERP's Idempotency-Key."""
    return f"{return_id}:refund"


async def credit_note_of(session: AsyncSession, return_id: str) -> CreditNote | None:
    return (
        await session.execute(select(CreditNote).where(CreditNote.key == credit_note_key(return_id)))
    ).scalar_one_or_none()


PENDING = "PENDING-"  # a credit note's number while the ERP has not issued it yet


def is_pending(number: str | None) -> bool:
    return number is None or number.startswith(PENDING)


def shown_number(number: str | None) -> str | None:
    """The number to show: none while the ERP has not issued the note."""
    return None if is_pending(number) else number


async def issue_credit_note(
    session: AsyncSession,
    return_id: str,
    order_id: str,
    currency: str,
    lines: list[BilledLine],
    pending: bool = False,
) -> CreditNote:
    """The return's credit note, numbered by us, or (`pending`) waiting for the ERP's number; the caller
    has checked the lines against what was billed and credited (order row locked)."""
    now = utcnow()
    note = CreditNote(
        key=credit_note_key(return_id),
        number=f"{PENDING}{return_id}" if pending else f"CN-{now:%Y}-{uuid.uuid4().hex[:8].upper()}",
        return_id=return_id,
        order_id=order_id,
        amount=sum(line.quantity * line.unit_price for line in lines),
        currency=currency,
        lines=[asdict(line) for line in lines],
        issued_at=now,
    )
    session.add(note)
    await session.flush()
    return note


async def number_credit_note(session: AsyncSession, return_id: str, number: str) -> None:
    """The ERP issued the pending credit note: it carries the ERP's number from now on."""
    note = await credit_note_of(session, return_id)
    if note is not None and is_pending(note.number):
        note.number = number
        note.issued_at = utcnow()


async def withdraw_pending(session: AsyncSession, return_id: str) -> None:
    """The ERP refused the pending credit note: its units are no longer credited."""
    note = await credit_note_of(session, return_id)
    if note is not None and is_pending(note.number):
        await session.delete(note)


async def of_order(session: AsyncSession, order_id: str) -> list[tuple[ReturnRow, str | None]]:
    """The order's returns, oldest first, each with its credit note's number once refunded."""
    result = await session.execute(
        select(ReturnRow, CreditNote.number)
        .outerjoin(CreditNote, CreditNote.return_id == ReturnRow.return_id)
        .where(ReturnRow.order_id == order_id)
        .order_by(ReturnRow.created_at, ReturnRow.return_id)
    )
    return [(row, shown_number(number)) for row, number in result.all()]


async def get(session: AsyncSession, return_id: str) -> ReturnRow | None:
    return await session.get(ReturnRow, return_id)


async def listing(
    session: AsyncSession, status: str | None, order_id: str | None, before: datetime | None, limit: int
) -> list[ReturnRow]:
    query = select(ReturnRow).order_by(ReturnRow.created_at.desc(), ReturnRow.return_id.desc()).limit(limit)
    if status:
        query = query.where(ReturnRow.status == status)
    if order_id:
        query = query.where(ReturnRow.order_id == order_id)
    if before:
        query = query.where(ReturnRow.created_at < before)
    return list((await session.execute(query)).scalars())
