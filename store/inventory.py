"""Stock, reservations, receipts, backorders and the ledger that explains every quantity.

Availability can never go negative: reservations are conditional updates (`on_hand - reserved >= q`)
and the stock table's CHECK constraints back them up. Every change writes a ledger entry in the same
transaction, so on_hand and reserved always equal the sums of their ledger changes.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.allocation import Site
from domain.allocation import Stock as StockSnapshot
from domain.steps import StockLine
from store.sql import insert_ignore, utcnow
from store.tables import Backorder, Receipt, Reservation, Stock, StockMove, Warehouse


@dataclass(frozen=True)
class Hold:
    allocation_id: str
    warehouse: str
    lines: list[StockLine]


def _move(warehouse: str, sku: str, kind: str, on_hand: int, reserved: int, reason: str, reference: str) -> StockMove:
    return StockMove(
        warehouse=warehouse,
        sku=sku,
        kind=kind,
        on_hand_change=on_hand,
        reserved_change=reserved,
        reason=reason,
        reference=reference,
        occurred_at=utcnow(),
    )


async def snapshot(session: AsyncSession, skus: Sequence[str]) -> tuple[list[Site], StockSnapshot]:
    sites = [
        Site(w.code, w.country, w.region, w.priority)
        for w in (await session.execute(select(Warehouse).order_by(Warehouse.code))).scalars()
    ]
    rows = await session.execute(
        select(Stock.warehouse, Stock.sku, Stock.on_hand - Stock.reserved).where(Stock.sku.in_(list(skus)))
    )
    stock: StockSnapshot = {}
    for warehouse, sku, available in rows.all():
        stock.setdefault(warehouse, {})[sku] = int(available)
    return sites, stock


async def holds_of(session: AsyncSession, order_id: str) -> list[Hold]:
    """The order's active reservations, one hold per allocation."""
    result = await session.execute(
        select(Reservation)
        .where(Reservation.order_id == order_id, Reservation.state == "active")
        .order_by(Reservation.allocation_id, Reservation.created_at, Reservation.sku)
    )
    found: dict[str, Hold] = {}
    for r in result.scalars():
        found.setdefault(r.allocation_id, Hold(r.allocation_id, r.warehouse, [])).lines.append(
            StockLine(r.sku, r.quantity)
        )
    return list(found.values())


async def reserve(session: AsyncSession, order_id: str, wanted: Sequence[Hold]) -> bool | None:
    """Reserve every planned shipment or none; the caller rolls back unless this returns True.

    False: stock moved since the plan was made (plan again). None: these allocations are held already,
    by an earlier run of the same step. The reservation rows go in first, so two runs racing for one
    order serialize on their primary key and only one moves stock. Stock rows are locked in
    (warehouse, sku) order, so concurrent orders never deadlock.
    """
    now = utcnow()
    rows = [
        {
            "allocation_id": hold.allocation_id,
            "sku": line.sku,
            "order_id": order_id,
            "warehouse": hold.warehouse,
            "quantity": line.quantity,
            "state": "active",
            "created_at": now,
        }
        for hold in wanted
        for line in hold.lines
    ]
    if await insert_ignore(session, Reservation.__table__, rows) != len(rows):  # type: ignore[arg-type]
        return None
    planned = sorted((h.warehouse, line.sku, line.quantity, h.allocation_id) for h in wanted for line in h.lines)
    for warehouse, sku, quantity, allocation_id in planned:
        result = await session.execute(
            update(Stock)
            .where(Stock.warehouse == warehouse, Stock.sku == sku, Stock.on_hand - Stock.reserved >= quantity)
            .values(reserved=Stock.reserved + quantity, updated_at=now)
        )
        if getattr(result, "rowcount", 0) != 1:
            return False
        session.add(_move(warehouse, sku, "reservation", 0, quantity, "reserved", allocation_id))
    return True


async def release(session: AsyncSession, order_id: str, reason: str) -> list[StockLine]:
    """Give back everything the order still holds; returns what went back."""
    result = await session.execute(
        select(Reservation)
        .where(Reservation.order_id == order_id, Reservation.state == "active")
        .order_by(Reservation.warehouse, Reservation.sku)
    )
    released: list[StockLine] = []
    now = utcnow()
    for r in result.scalars():
        await session.execute(
            update(Stock)
            .where(Stock.warehouse == r.warehouse, Stock.sku == r.sku)
            .values(reserved=Stock.reserved - r.quantity, updated_at=now)
        )
        r.state = "released"
        session.add(_move(r.warehouse, r.sku, "release", 0, -r.quantity, reason, r.allocation_id))
        released.append(StockLine(r.sku, r.quantity))
    return released


async def consume(session: AsyncSession, allocation_id: str) -> None:
    """Goods left the building: the allocation's reservation becomes a reduction of on-hand stock."""
    result = await session.execute(
        select(Reservation)
        .where(Reservation.allocation_id == allocation_id, Reservation.state == "active")
        .order_by(Reservation.warehouse, Reservation.sku)
    )
    now = utcnow()
    for r in result.scalars():
        await session.execute(
            update(Stock)
            .where(Stock.warehouse == r.warehouse, Stock.sku == r.sku)
            .values(on_hand=Stock.on_hand - r.quantity, reserved=Stock.reserved - r.quantity, updated_at=now)
        )
        r.state = "consumed"
        session.add(_move(r.warehouse, r.sku, "shipment", -r.quantity, -r.quantity, "shipped", allocation_id))


async def receive(
    session: AsyncSession, warehouse: str, lines: Sequence[StockLine], reference: str
) -> tuple[Receipt, bool]:
    """Goods received. A receipt's reference (an ASN, a delivery note) is recorded once per warehouse."""
    existing = (
        await session.execute(select(Receipt).where(Receipt.warehouse == warehouse, Receipt.reference == reference))
    ).scalar_one_or_none()
    if existing is not None:
        return existing, False
    receipt = Receipt(
        warehouse=warehouse,
        reference=reference,
        lines=[{"sku": line.sku, "quantity": line.quantity} for line in lines],
        received_at=utcnow(),
    )
    session.add(receipt)
    for line in sorted(lines, key=lambda x: x.sku):
        stock = await session.get(Stock, (warehouse, line.sku), with_for_update=True)
        if stock is None:
            session.add(
                Stock(warehouse=warehouse, sku=line.sku, on_hand=line.quantity, reserved=0, updated_at=utcnow())
            )
        else:
            stock.on_hand += line.quantity
            stock.updated_at = utcnow()
        session.add(_move(warehouse, line.sku, "receipt", line.quantity, 0, "goods received", reference))
    await session.flush()
    return receipt, True


async def count(session: AsyncSession, warehouse: str, sku: str, on_hand: int, reason: str) -> Stock:
    """A stock count sets on-hand. Raises ValueError if it would leave less on hand than is reserved."""
    stock = await session.get(Stock, (warehouse, sku), with_for_update=True)
    if stock is None:
        stock = Stock(warehouse=warehouse, sku=sku, on_hand=0, reserved=0)
        session.add(stock)
    elif on_hand < stock.reserved:
        raise ValueError(f"{stock.reserved} units are reserved; on_hand cannot go below that")
    change = on_hand - stock.on_hand
    stock.on_hand = on_hand
    stock.updated_at = utcnow()
    if change:
        session.add(_move(warehouse, sku, "adjustment", change, 0, reason, "count"))
    await session.flush()
    return stock


async def set_backorders(
    session: AsyncSession, order_id: str, lines: Sequence[StockLine], rush: bool, since_at: datetime
) -> None:
    """Replace what the order waits for."""
    await session.execute(delete(Backorder).where(Backorder.order_id == order_id))
    for line in lines:
        session.add(
            Backorder(
                order_id=order_id, sku=line.sku, quantity=line.quantity, rush_first=0 if rush else 1, since=since_at
            )
        )


async def waiting_for(session: AsyncSession, skus: Sequence[str]) -> list[str]:
    """Orders waiting for any of these SKUs: rush first, then oldest."""
    result = await session.execute(
        select(Backorder.order_id, Backorder.rush_first, Backorder.since)
        .where(Backorder.sku.in_(list(skus)))
        .order_by(Backorder.rush_first, Backorder.since, Backorder.order_id)
    )
    seen: dict[str, None] = {}
    for order_id, _, _ in result.all():
        seen.setdefault(order_id, None)
    return list(seen)


async def ledger(
    session: AsyncSession, sku: str, warehouse: str | None, after_id: int | None, limit: int
) -> list[StockMove]:
    query = select(StockMove).where(StockMove.sku == sku).order_by(StockMove.id).limit(limit)
    if warehouse:
        query = query.where(StockMove.warehouse == warehouse)
    if after_id:
        query = query.where(StockMove.id > after_id)
    return list((await session.execute(query)).scalars())
