"""Pick lists, shipments and invoices: one row per business key, so a re-run step finds its own work."""

from dataclasses import asdict
from datetime import datetime

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.orders import OrderLine
from domain.steps import StockLine
from store.sql import ignoring_insert, insert_ignore, utcnow
from store.tables import Invoice, PickList, Shipment

PICK_LISTS: Table = PickList.__table__  # type: ignore[assignment]
INVOICES: Table = Invoice.__table__  # type: ignore[assignment]
# Built once, against the tables: SQLAlchemy takes them from its compiled cache.
_MARK_PICKED = (
    update(PICK_LISTS)
    .where(PICK_LISTS.c.pick_list_id == bindparam("match_pick_list_id"), PICK_LISTS.c.state == "open")
    .values(
        state="confirmed",
        confirmed_at=bindparam("at", type_=PICK_LISTS.c.confirmed_at.type),
        confirmed_by=bindparam("by", type_=PICK_LISTS.c.confirmed_by.type),
    )
)
_SHIPMENT_OF = select(Shipment).where(Shipment.pick_list_id == bindparam("match_pick_list_id"))
_INVOICE_BY_KEY = select(Invoice).where(Invoice.key == bindparam("match_key"))
_NUMBER_INVOICE = (
    update(INVOICES)
    .where(INVOICES.c.id == bindparam("match_id"))
    .values(number=bindparam("number", type_=INVOICES.c.number.type))
)


async def open_pick_list(
    session: AsyncSession, pick_list_id: str, order_id: str, warehouse: str, lines: list[StockLine]
) -> bool:
    """True when this call created the pick list."""
    return bool(
        await insert_ignore(
            session,
            PickList.__table__,  # type: ignore[arg-type]
            [
                {
                    "pick_list_id": pick_list_id,
                    "order_id": order_id,
                    "warehouse": warehouse,
                    "lines": [asdict(line) for line in lines],
                    "state": "open",
                    "created_at": utcnow(),
                }
            ],
        )
    )


async def get_pick_list(session: AsyncSession, pick_list_id: str) -> PickList | None:
    return await session.get(PickList, pick_list_id)


async def mark_picked(session: AsyncSession, pick_list_id: str, at: datetime, by: str) -> None:
    await session.execute(_MARK_PICKED, {"match_pick_list_id": pick_list_id, "at": at, "by": by})


async def shipment_for(session: AsyncSession, pick_list_id: str) -> Shipment | None:
    result = await session.execute(_SHIPMENT_OF, {"match_pick_list_id": pick_list_id})
    return result.scalar_one_or_none()


async def add_shipment(
    session: AsyncSession, shipment_id: str, order_id: str, pick_list_id: str, carrier: str, tracking: str
) -> bool:
    return bool(
        await insert_ignore(
            session,
            Shipment.__table__,  # type: ignore[arg-type]
            [
                {
                    "shipment_id": shipment_id,
                    "order_id": order_id,
                    "pick_list_id": pick_list_id,
                    "carrier": carrier,
                    "tracking_number": tracking,
                    "shipped_at": utcnow(),
                }
            ],
        )
    )


async def invoice_for(session: AsyncSession, key: str) -> Invoice | None:
    result = await session.execute(_INVOICE_BY_KEY, {"match_key": key})
    return result.scalar_one_or_none()


async def issue_invoice(
    session: AsyncSession,
    key: str,
    order_id: str,
    amount: int,
    currency: str,
    lines: list[OrderLine],
    shipment_id: str | None = None,
    number: str | None = None,
) -> tuple[Invoice, bool]:
    """The invoice for `key`, created if it does not exist yet: numbered `number` (an external ERP's)
    or else with the next number in sequence."""
    existing = await invoice_for(session, key)
    if existing is not None:  # a retry: do not draw another number from the sequence
        return existing, False
    row = {
        "key": key,
        "order_id": order_id,
        "amount": amount,
        "currency": currency,
        "lines": [asdict(line) for line in lines],
        "shipment_id": shipment_id,
        "number": number,
        "issued_at": utcnow(),
    }
    # The unique business key is what stops a second invoice for one shipment.
    insert = ignoring_insert(session.get_bind().dialect.name, INVOICES, ("key",), ("id",))
    invoice_id = (await session.execute(insert, row)).scalar_one_or_none()
    if invoice_id is None:  # a concurrent run of the same step issued it first
        invoice = await invoice_for(session, key)
        assert invoice is not None
        if invoice.number is None:
            invoice.number = _number(invoice.issued_at, invoice.id)
        return invoice, False
    invoice = Invoice(id=invoice_id, **row)
    if invoice.number is None:
        invoice.number = _number(invoice.issued_at, invoice_id)
        await session.execute(_NUMBER_INVOICE, {"match_id": invoice_id, "number": invoice.number})
    return invoice, True


def _number(issued_at: datetime, invoice_id: int) -> str:
    # Numbers follow the database sequence: gap-free unless an issuing transaction rolls back
    # or two runs of the same step race (PostgreSQL sequences do not give numbers back).
    return f"INV-{issued_at:%Y}-{invoice_id:07d}"


async def open_pick_lists(session: AsyncSession, order_id: str) -> list[str]:
    result = await session.execute(
        select(PickList.pick_list_id)
        .where(PickList.order_id == order_id, PickList.state == "open")
        .order_by(PickList.pick_list_id)
    )
    return list(result.scalars())


async def cancel_open_pick_lists(session: AsyncSession, order_id: str) -> list[str]:
    result = await session.execute(
        select(PickList).where(PickList.order_id == order_id, PickList.state == "open").order_by(PickList.pick_list_id)
    )
    cancelled = []
    for pick_list in result.scalars():
        pick_list.state = "cancelled"
        cancelled.append(pick_list.pick_list_id)
    return cancelled


async def cancel_pick_lists(session: AsyncSession, pick_list_ids: list[str]) -> list[str]:
    """Cancel these pick lists where still open; returns the ones this call cancelled."""
    if not pick_list_ids:
        return []
    result = await session.execute(
        update(PICK_LISTS)
        .where(PICK_LISTS.c.pick_list_id.in_(pick_list_ids), PICK_LISTS.c.state == "open")
        .values(state="cancelled")
        .returning(PICK_LISTS.c.pick_list_id)
    )
    return sorted(result.scalars())


async def of_order(session: AsyncSession, order_id: str) -> list[tuple[PickList, Shipment | None, Invoice | None]]:
    """Each pick list of the order with its shipment and invoice, if any."""
    result = await session.execute(
        select(PickList, Shipment, Invoice)
        .outerjoin(Shipment, Shipment.pick_list_id == PickList.pick_list_id)
        .outerjoin(Invoice, Invoice.shipment_id == Shipment.shipment_id)
        .where(PickList.order_id == order_id)
        .order_by(PickList.created_at, PickList.pick_list_id)
    )
    return [(p, s, i) for p, s, i in result.all()]
