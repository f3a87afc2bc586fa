"""Stock, reservations, receipts, backorders and the ledger that explains every quantity.

Availability can never go negative: reservations are conditional updates (`on_hand - reserved >= q`)
and the stock table's CHECK constraints back them up. Every change writes a ledger entry in the same
transaction, so on_hand and reserved always equal the sums of their ledger changes.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, delete, insert, select, update
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


# The hot path's statements, against the tables and built once, so SQLAlchemy takes them from its
# compiled cache; the ORM's unit of work and bulk-update machinery cost more per call.
STOCK: Table = Stock.__table__  # type: ignore[assignment]
RESERVATIONS: Table = Reservation.__table__  # type: ignore[assignment]
LEDGER: Table = StockMove.__table__  # type: ignore[assignment]
BACKORDERS: Table = Backorder.__table__  # type: ignore[assignment]
WAREHOUSES: Table = Warehouse.__table__  # type: ignore[assignment]

_SITES = select(WAREHOUSES.c.code, WAREHOUSES.c.country, WAREHOUSES.c.region, WAREHOUSES.c.priority).order_by(
    WAREHOUSES.c.code
)
_AVAILABLE = select(STOCK.c.warehouse, STOCK.c.sku, STOCK.c.on_hand - STOCK.c.reserved).where(
    STOCK.c.sku.in_(bindparam("skus", expanding=True))
)
_THIS_STOCK = (STOCK.c.warehouse == bindparam("match_warehouse"), STOCK.c.sku == bindparam("match_sku"))
_NOW = bindparam("now", type_=STOCK.c.updated_at.type)
_RESERVE = (
    update(STOCK)
    .where(*_THIS_STOCK, STOCK.c.on_hand - STOCK.c.reserved >= bindparam("quantity"))
    .values(reserved=STOCK.c.reserved + bindparam("quantity"), updated_at=_NOW)
)
_UNRESERVE = (
    update(STOCK).where(*_THIS_STOCK).values(reserved=STOCK.c.reserved - bindparam("quantity"), updated_at=_NOW)
)
_SHIP = (
    update(STOCK)
    .where(*_THIS_STOCK)
    .values(
        on_hand=STOCK.c.on_hand - bindparam("quantity"),
        reserved=STOCK.c.reserved - bindparam("quantity"),
        updated_at=_NOW,
    )
)
# Taking an allocation's or an order's active reservations claims them in the same statement: of two
# runs racing for them, the second finds none left and moves no stock.
_HELD = (RESERVATIONS.c.warehouse, RESERVATIONS.c.sku, RESERVATIONS.c.quantity, RESERVATIONS.c.allocation_id)
_CONSUME = (
    update(RESERVATIONS)
    .where(RESERVATIONS.c.allocation_id == bindparam("match_allocation_id"), RESERVATIONS.c.state == "active")
    .values(state="consumed")
    .returning(*_HELD)
)
_RELEASE = (
    update(RESERVATIONS)
    .where(RESERVATIONS.c.order_id == bindparam("match_order_id"), RESERVATIONS.c.state == "active")
    .values(state="released")
    .returning(*_HELD)
)
_RECORD_MOVES = insert(LEDGER)
_CLEAR_BACKORDERS = delete(BACKORDERS).where(BACKORDERS.c.order_id == bindparam("match_order_id"))
_ADD_BACKORDERS = insert(BACKORDERS)


def _move(
    warehouse: str, sku: str, kind: str, on_hand: int, reserved: int, reason: str, reference: str
) -> dict[str, Any]:
    return {
        "warehouse": warehouse,
        "sku": sku,
        "kind": kind,
        "on_hand_change": on_hand,
        "reserved_change": reserved,
        "reason": reason,
        "reference": reference,
        "occurred_at": utcnow(),
    }


async def _record_moves(session: AsyncSession, moves: list[dict[str, Any]]) -> None:
    if moves:
        await session.execute(_RECORD_MOVES, moves)


def _stock_change(warehouse: str, sku: str, quantity: int, now: datetime) -> dict[str, Any]:
    return {"match_warehouse": warehouse, "match_sku": sku, "quantity": quantity, "now": now}


async def snapshot(session: AsyncSession, skus: Sequence[str]) -> tuple[list[Site], StockSnapshot]:
    sites = [Site(code, country, region, priority) for code, country, region, priority in await session.execute(_SITES)]
    rows = await session.execute(_AVAILABLE, {"skus": list(skus)})
    stock: StockSnapshot = {}
    for warehouse, sku, available in rows.all():
        stock.setdefault(warehouse, {})[sku] = int(available)
    return sites, stock


async def holds_of(session: AsyncSession, order_id: str) -> list[Hold]:
    """What the order's reservations hold or held until shipped (active or consumed; not released), one
    hold per allocation. A consumed one still counts: a step run again after its first run's result was
    lost (a workflow task that timed out) must report the allocation that has since shipped."""
    result = await session.execute(
        select(Reservation)
        .where(Reservation.order_id == order_id, Reservation.state.in_(("active", "consumed")))
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
    if await insert_ignore(session, RESERVATIONS, rows) != len(rows):
        return None
    planned = sorted((h.warehouse, line.sku, line.quantity, h.allocation_id) for h in wanted for line in h.lines)
    for warehouse, sku, quantity, _ in planned:
        result = await session.execute(_RESERVE, _stock_change(warehouse, sku, quantity, now))
        if getattr(result, "rowcount", 0) != 1:
            return False
    moves = [
        _move(w, sku, "reservation", 0, quantity, "reserved", allocation_id)
        for w, sku, quantity, allocation_id in planned
    ]
    await _record_moves(session, moves)
    return True


async def release(session: AsyncSession, order_id: str, reason: str) -> list[StockLine]:
    """Give back everything the order still holds; returns what went back."""
    held = sorted(tuple(row) for row in await session.execute(_RELEASE, {"match_order_id": order_id}))
    if not held:
        return []
    now = utcnow()
    # One stock row after another in (warehouse, sku) order, as everywhere, so concurrent changes never deadlock.
    await session.execute(_UNRESERVE, [_stock_change(w, sku, quantity, now) for w, sku, quantity, _ in held])
    await _record_moves(
        session,
        [_move(w, sku, "release", 0, -quantity, reason, allocation_id) for w, sku, quantity, allocation_id in held],
    )
    return [StockLine(sku, quantity) for _, sku, quantity, _ in held]


async def release_allocations(session: AsyncSession, allocation_ids: Sequence[str], reason: str) -> list[StockLine]:
    """Give back what these allocations still hold (the rest of the order keeps its reservations)."""
    if not allocation_ids:
        return []
    claim = (
        update(RESERVATIONS)
        .where(RESERVATIONS.c.allocation_id.in_(list(allocation_ids)), RESERVATIONS.c.state == "active")
        .values(state="released")
        .returning(*_HELD)
    )
    held = sorted(tuple(row) for row in await session.execute(claim))
    if not held:
        return []
    now = utcnow()
    await session.execute(_UNRESERVE, [_stock_change(w, sku, quantity, now) for w, sku, quantity, _ in held])
    await _record_moves(
        session,
        [_move(w, sku, "release", 0, -quantity, reason, allocation_id) for w, sku, quantity, allocation_id in held],
    )
    return [StockLine(sku, quantity) for _, sku, quantity, _ in held]


async def consume(session: AsyncSession, allocation_id: str) -> None:
    """Goods left the building: the allocation's reservation becomes a reduction of on-hand stock."""
    held = sorted(tuple(row) for row in await session.execute(_CONSUME, {"match_allocation_id": allocation_id}))
    if not held:
        return
    now = utcnow()
    await session.execute(_SHIP, [_stock_change(w, sku, quantity, now) for w, sku, quantity, _ in held])
    await _record_moves(
        session,
        [_move(w, sku, "shipment", -quantity, -quantity, "shipped", allocation_id) for w, sku, quantity, _ in held],
    )


async def receive(
    session: AsyncSession,
    warehouse: str,
    lines: Sequence[StockLine],
    reference: str,
    reason: str = "goods received",
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
    moves = []
    for line in sorted(lines, key=lambda x: x.sku):
        stock = await session.get(Stock, (warehouse, line.sku), with_for_update=True)
        if stock is None:
            session.add(
                Stock(warehouse=warehouse, sku=line.sku, on_hand=line.quantity, reserved=0, updated_at=utcnow())
            )
        else:
            stock.on_hand += line.quantity
            stock.updated_at = utcnow()
        moves.append(_move(warehouse, line.sku, "receipt", line.quantity, 0, reason, reference))
    await _record_moves(session, moves)
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
        await _record_moves(session, [_move(warehouse, sku, "adjustment", change, 0, reason, "count")])
    await session.flush()
    return stock


async def set_backorders(
    session: AsyncSession, order_id: str, lines: Sequence[StockLine], rush: bool, since_at: datetime
) -> None:
    """Replace what the order waits for."""
    await session.execute(_CLEAR_BACKORDERS, {"match_order_id": order_id})
    if lines:
        rush_first = 0 if rush else 1
        await session.execute(
            _ADD_BACKORDERS,
            [
                {
                    "order_id": order_id,
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "rush_first": rush_first,
                    "since": since_at,
                }
                for line in lines
            ],
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
