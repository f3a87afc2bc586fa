"""Stock and reservations. Availability can never go negative: the updates are conditional and the
table's CHECK constraints back them up."""

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.steps import Shortage, StockLine
from store.sql import insert_ignore, utcnow
from store.tables import Reservation, Stock


async def active_reservations(session: AsyncSession, order_id: str, warehouse: str) -> list[StockLine]:
    result = await session.execute(
        select(Reservation.sku, Reservation.quantity)
        .where(Reservation.order_id == order_id, Reservation.warehouse == warehouse)
        .order_by(Reservation.sku)
    )
    return [StockLine(sku=sku, quantity=qty) for sku, qty in result.all()]


async def available(session: AsyncSession, warehouse: str, sku: str) -> int:
    result = await session.execute(
        select(Stock.on_hand - Stock.reserved).where(Stock.warehouse == warehouse, Stock.sku == sku)
    )
    return int(result.scalar_one_or_none() or 0)


async def try_reserve(
    session: AsyncSession, order_id: str, warehouse: str, lines: Sequence[StockLine]
) -> list[Shortage] | None:
    """Reserve every line or none; the caller rolls its transaction back unless this returns [].

    None means another run of the same step already holds the reservation: the reservation rows go in
    first, so two runs racing for one order serialize on their primary key and only one moves stock.
    Stock rows are touched in SKU order so concurrent orders lock them in the same order.
    """
    now = utcnow()
    inserted = await insert_ignore(
        session,
        Reservation.__table__,  # type: ignore[arg-type]
        [
            {
                "order_id": order_id,
                "warehouse": warehouse,
                "sku": line.sku,
                "quantity": line.quantity,
                "state": "active",
                "created_at": now,
            }
            for line in lines
        ],
    )
    if inserted != len(lines):
        return None
    shortages: list[Shortage] = []
    for line in sorted(lines, key=lambda x: x.sku):
        result = await session.execute(
            update(Stock)
            .where(
                Stock.warehouse == warehouse,
                Stock.sku == line.sku,
                Stock.on_hand - Stock.reserved >= line.quantity,
            )
            .values(reserved=Stock.reserved + line.quantity, updated_at=now)
        )
        if getattr(result, "rowcount", 0) != 1:
            shortages.append(
                Shortage(
                    sku=line.sku,
                    requested=line.quantity,
                    available=await available(session, warehouse, line.sku),
                )
            )
    return shortages


async def consume(session: AsyncSession, order_id: str, warehouse: str) -> None:
    """Goods left the building: the active reservation becomes a reduction of on-hand stock."""
    result = await session.execute(
        select(Reservation)
        .where(
            Reservation.order_id == order_id,
            Reservation.warehouse == warehouse,
            Reservation.state == "active",
        )
        .order_by(Reservation.sku)
    )
    now = utcnow()
    for reservation in result.scalars():
        await session.execute(
            update(Stock)
            .where(Stock.warehouse == warehouse, Stock.sku == reservation.sku)
            .values(
                on_hand=Stock.on_hand - reservation.quantity,
                reserved=Stock.reserved - reservation.quantity,
                updated_at=now,
            )
        )
        reservation.state = "consumed"
