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


async def available(session: AsyncSession, warehouse: str, sku: str, lock: bool = False) -> int:
    query = select(Stock.on_hand - Stock.reserved).where(Stock.warehouse == warehouse, Stock.sku == sku)
    result = await session.execute(query.with_for_update() if lock else query)
    return int(result.scalar_one_or_none() or 0)


async def try_reserve(
    session: AsyncSession, order_id: str, warehouse: str, lines: Sequence[StockLine], partial: bool = False
) -> tuple[list[StockLine], list[Shortage]] | None:
    """Reserve the lines; returns what was reserved and what fell short.

    All or nothing unless `partial`: the caller rolls its transaction back when there are shortages.
    With `partial`, what is available of each line is reserved and the rest reported short.
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
    taken: dict[str, int] = {}
    shortages: list[Shortage] = []
    for line in sorted(lines, key=lambda x: x.sku):
        take = line.quantity
        if partial:
            take = min(take, await available(session, warehouse, line.sku, lock=True))
        result = await session.execute(
            update(Stock)
            .where(Stock.warehouse == warehouse, Stock.sku == line.sku, Stock.on_hand - Stock.reserved >= take)
            .values(reserved=Stock.reserved + take, updated_at=now)
        )
        if take == 0 or getattr(result, "rowcount", 0) != 1:
            take = 0
        taken[line.sku] = take
        if take < line.quantity:
            shortages.append(
                Shortage(
                    sku=line.sku,
                    requested=line.quantity,
                    available=take if partial else await available(session, warehouse, line.sku),
                )
            )
        if partial and take < line.quantity:
            held = await session.get(Reservation, (order_id, warehouse, line.sku))
            assert held is not None
            if take:
                held.quantity = take
            else:
                await session.delete(held)
    return [StockLine(line.sku, taken[line.sku]) for line in lines if taken[line.sku]], shortages


async def release(session: AsyncSession, order_id: str) -> list[StockLine]:
    """Give back what the order holds and no longer needs; returns what went back."""
    result = await session.execute(
        select(Reservation)
        .where(Reservation.order_id == order_id, Reservation.state == "active")
        .order_by(Reservation.warehouse, Reservation.sku)
    )
    released: list[StockLine] = []
    now = utcnow()
    for reservation in result.scalars():
        await session.execute(
            update(Stock)
            .where(Stock.warehouse == reservation.warehouse, Stock.sku == reservation.sku)
            .values(reserved=Stock.reserved - reservation.quantity, updated_at=now)
        )
        reservation.state = "released"
        released.append(StockLine(reservation.sku, reservation.quantity))
    return released


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
