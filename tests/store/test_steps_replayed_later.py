"""A step that runs again after the order's later steps moved on answers what it answered the first time
and changes nothing. This is what a workflow task handed out again does: its replay runs the task's local
steps again, with their first input, after the steps that followed them already did their work."""

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.carrier import CarrierActivities
from activities.inventory import InventoryActivities
from activities.orders import OrderActivities
from activities.warehouse import WarehouseActivities
from domain.exceptions import Action, ExceptionKind, OrderException
from domain.orders import Address, Customer, Order, OrderLine, OrderStatus, Step, TimelineEntry
from domain.steps import (
    BookShipment,
    ConfirmOrder,
    CreatePickList,
    KeyedEntry,
    ProjectOrder,
    ReleaseRemainder,
    ReserveStock,
    StockLine,
    StockReserved,
)
from store import catalog, inventory, orders
from store.db import create_engine, create_sessions
from store.tables import Backorder, OrderExceptionRow, Reservation, Stock, StockMove
from tests.conftest import stock_up, unique

SHANGHAI = Address("Li Wei", "88 Century Ave", "Shanghai", "200120", "CN")


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield create_sessions(engine)
    await engine.dispose()


async def _confirmed(db: async_sessionmaker[AsyncSession], lines: dict[str, int]) -> tuple[Order, datetime]:
    order = Order(
        "web",
        unique("LATER"),
        Customer("C", "C", "c@example.com"),
        SHANGHAI,
        [OrderLine(sku, quantity, 100) for sku, quantity in lines.items()],
        "CNY",
    )
    now = datetime.now(UTC)
    assert (await OrderActivities(db).confirm_order(ConfirmOrder(order, now, now + timedelta(days=1), seq=1))).ok
    return order, now


async def _state(db: async_sessionmaker[AsyncSession], order_id: str, skus: list[str]) -> dict[str, Any]:
    """Everything a re-run of a step could disturb: stock, the ledger, reservations, backorders, the order."""
    async with db() as s:
        stock = {sku: (await s.get(Stock, ("MAIN", sku))) for sku in skus}
        ledger = await s.execute(
            select(StockMove.sku, StockMove.kind, StockMove.on_hand_change, StockMove.reserved_change)
            .where(StockMove.sku.in_(skus))
            .order_by(StockMove.id)
        )
        held = await s.execute(
            select(Reservation.allocation_id, Reservation.sku, Reservation.quantity, Reservation.state)
            .where(Reservation.order_id == order_id)
            .order_by(Reservation.allocation_id, Reservation.sku)
        )
        waiting = await s.execute(select(Backorder.sku, Backorder.quantity).where(Backorder.order_id == order_id))
        row = await orders.get(s, order_id)
        assert row is not None
        return {
            "stock": {sku: (x.on_hand, x.reserved) if x else None for sku, x in stock.items()},
            "ledger": [tuple(m) for m in ledger],
            "reservations": [tuple(r) for r in held],
            "backorders": sorted(tuple(b) for b in waiting),
            "order": (row.status, row.status_seq),
            "timeline": [(e.key, e.event) for e in await orders.timeline_of(s, order_id)],
        }


async def test_allocation_again_after_the_goods_shipped(db: async_sessionmaker[AsyncSession]) -> None:
    """The lost order: its reservation was consumed by shipping, and the step ran again. The second run must
    not reserve again, find no stock and backorder the order."""
    a, b = unique("SHIPPED"), unique("SHIPPED")
    await stock_up(db, {a: 2, b: 1})  # exactly what the order takes: nothing left once it ships
    order, now = await _confirmed(db, {a: 2, b: 1})
    reserve = ReserveStock(order.order_id, [StockLine(a, 2), StockLine(b, 1)], SHANGHAI, False, now, seq=2)
    first = await InventoryActivities(db).reserve_stock(reserve)
    assert [x.allocation_id for x in first.allocations] == [f"{order.order_id}.1"] and not first.backordered
    allocation = first.allocations[0]
    pick = CreatePickList(order.order_id, allocation, OrderStatus.PICKING, seq=3)
    pick_list = await WarehouseActivities(db, None).create_pick_list(pick)
    ship = BookShipment(
        order.order_id, allocation, pick_list.pick_list_id, SHANGHAI, now, "picker", OrderStatus.SHIPPED, seq=4
    )
    shipment = await CarrierActivities(db, "builtin").book_shipment(ship)
    shipped = await _state(db, order.order_id, [a, b])
    assert shipped["stock"] == {a: (0, 0), b: (0, 0)}
    assert shipped["order"] == ("shipped", 4)

    # The workflow task that ran these is handed out again: its replay runs every step again, in order.
    assert await InventoryActivities(db).reserve_stock(reserve) == first
    assert await WarehouseActivities(db, None).create_pick_list(pick) == pick_list
    assert await CarrierActivities(db, "builtin").book_shipment(ship) == shipment
    assert await _state(db, order.order_id, [a, b]) == shipped


async def test_allocation_again_after_a_restock_still_reports_the_backorder(
    db: async_sessionmaker[AsyncSession],
) -> None:
    """A backorder reserves nothing; stock that came in since must not turn the run again into an allocation
    the workflow never made (the next attempt, with its own number, takes that stock)."""
    sku = unique("LATE")
    await stock_up(db, {sku: 0})
    order, now = await _confirmed(db, {sku: 3})
    reserve = ReserveStock(order.order_id, [StockLine(sku, 3)], SHANGHAI, False, now, seq=2)
    first = await InventoryActivities(db).reserve_stock(reserve)
    assert first.allocations == [] and first.backordered == [StockLine(sku, 3)]
    async with db.begin() as s:
        await inventory.receive(s, "MAIN", [StockLine(sku, 5)], unique("ASN"))
    before = await _state(db, order.order_id, [sku])

    assert await InventoryActivities(db).reserve_stock(reserve) == first
    assert await _state(db, order.order_id, [sku]) == before
    # The next attempt is a new step: it reserves what came in.
    retry = ReserveStock(order.order_id, [StockLine(sku, 3)], SHANGHAI, False, now, attempt=2, seq=3)
    second = await InventoryActivities(db).reserve_stock(retry)
    assert [(x.allocation_id, x.lines) for x in second.allocations] == [(f"{order.order_id}.1", [StockLine(sku, 3)])]
    assert await InventoryActivities(db).reserve_stock(reserve) == first


async def test_allocation_again_after_another_order_took_the_stock(db: async_sessionmaker[AsyncSession]) -> None:
    """The run again finds the shelf empty (another order took the rest): it still reports the reservation
    its first run made, which stays active."""
    sku = unique("TAKEN")
    await stock_up(db, {sku: 4})
    order, now = await _confirmed(db, {sku: 2})
    reserve = ReserveStock(order.order_id, [StockLine(sku, 2)], SHANGHAI, False, now, seq=2)
    first = await InventoryActivities(db).reserve_stock(reserve)
    other, _ = await _confirmed(db, {sku: 2})
    await InventoryActivities(db).reserve_stock(
        ReserveStock(other.order_id, [StockLine(sku, 2)], SHANGHAI, False, now, seq=2)
    )
    before = await _state(db, order.order_id, [sku])
    assert before["stock"] == {sku: (4, 4)}

    assert await InventoryActivities(db).reserve_stock(reserve) == first
    assert await _state(db, order.order_id, [sku]) == before


async def test_a_result_recorded_before_is_read_back_whole(db: async_sessionmaker[AsyncSession]) -> None:
    """Split shipments and a partial backorder come back as they were reported, reasons included."""
    a, b = unique("SPLIT"), unique("SPLIT")
    await stock_up(db, {a: 1, b: 0})
    order, now = await _confirmed(db, {a: 1, b: 2})
    reserve = ReserveStock(
        order.order_id, [StockLine(a, 1), StockLine(b, 2)], SHANGHAI, False, now, seq=2, allow_partial=True
    )
    first = await InventoryActivities(db).reserve_stock(reserve)
    assert isinstance(first, StockReserved) and first.allocations and first.backordered == [StockLine(b, 2)]
    assert await InventoryActivities(db).reserve_stock(reserve) == first


async def test_confirm_again_after_the_catalog_changed(db: async_sessionmaker[AsyncSession]) -> None:
    """The order was valid when confirmed and went on; a product retired since does not make the confirm
    step, run again, answer that the order is invalid (which would park a shipped order on an exception)."""
    sku = unique("RETIRED")
    await stock_up(db, {sku: 5})
    order = Order("web", unique("CAT"), Customer("C", "C", "c@example.com"), SHANGHAI, [OrderLine(sku, 1, 100)], "CNY")
    now = datetime.now(UTC)
    confirm = ConfirmOrder(order, now, now + timedelta(days=1), seq=1)
    assert (await OrderActivities(db).confirm_order(confirm)).ok
    async with db.begin() as s:
        await catalog.put_product(s, sku, "retired", 1000, "CNY", False)

    assert (await OrderActivities(db).confirm_order(confirm)).ok
    # A confirm the workflow asks for anew (a person's retry, a later write) checks the catalog as it is.
    assert not (await OrderActivities(db).confirm_order(replace(confirm, seq=7))).ok


async def test_a_late_projection_does_not_reopen_an_exception_or_restore_old_lines(
    db: async_sessionmaker[AsyncSession],
) -> None:
    sku = unique("EDIT")
    await stock_up(db, {sku: 5})
    order, now = await _confirmed(db, {sku: 1})
    opened = OrderException(unique("EX"), ExceptionKind.STOCK_SHORTAGE, Step.ALLOCATE, "short", now)
    resolved = replace(
        opened, escalation_level=1, resolved_at=now, resolution=Action.RETRY, resolved_by="ops", note="restocked"
    )
    entry = TimelineEntry(now, OrderStatus.NEEDS_ATTENTION, "exception_opened", "short")
    first = ProjectOrder(
        order.order_id,
        OrderStatus.NEEDS_ATTENTION,
        [KeyedEntry("opened", entry)],
        [opened],
        seq=2,
        lines=[OrderLine(sku, 2, 100)],
    )
    later = ProjectOrder(order.order_id, OrderStatus.CONFIRMED, [], [resolved], seq=3, lines=[OrderLine(sku, 3, 100)])
    for change in (first, later, first):  # the first write's step runs again after the later one
        await OrderActivities(db).project_order(change)

    async with db() as s:
        row = await s.get(OrderExceptionRow, opened.exception_id)
        assert row is not None
        assert (row.resolved_at is not None, row.resolution, row.escalation_level) == (True, "retry", 1)
        assert [(x.sku, x.quantity) for x in await orders.lines_of(s, order.order_id)] == [(sku, 3)]
        order_row = await orders.get(s, order.order_id)
        assert order_row is not None and (order_row.status, order_row.total) == ("confirmed", 300)


async def test_release_remainder_again_after_a_later_backorder(db: async_sessionmaker[AsyncSession]) -> None:
    """Giving back a dropped part ends the order's backorders; run again after a later allocation
    backordered the order, it must not end those."""
    a, b = unique("DROP"), unique("WAIT")
    await stock_up(db, {a: 1, b: 0})
    order, now = await _confirmed(db, {a: 1})
    reserve = ReserveStock(order.order_id, [StockLine(a, 1)], SHANGHAI, False, now, seq=2)
    allocation = (await InventoryActivities(db).reserve_stock(reserve)).allocations[0]
    projection = ProjectOrder(order.order_id, OrderStatus.CONFIRMED, [], seq=3)
    release = ReleaseRemainder(order.order_id, [allocation.allocation_id], [], "order edited", projection)
    first = await OrderActivities(db).release_remainder(release)
    assert first.released == [StockLine(a, 1)]
    again = ReserveStock(order.order_id, [StockLine(b, 2)], SHANGHAI, False, now, first_allocation=2, attempt=2, seq=4)
    assert (await InventoryActivities(db).reserve_stock(again)).backordered == [StockLine(b, 2)]
    before = await _state(db, order.order_id, [a, b])
    assert before["backorders"] == [(b, 2)]

    assert await OrderActivities(db).release_remainder(release) == first
    assert await _state(db, order.order_id, [a, b]) == before
