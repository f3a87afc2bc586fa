"""A step that runs again (a retry after its commit) finds its own work and does nothing twice, on both
databases: the stock moves once, one shipment, one invoice with one number, each timeline entry once."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.billing import BillingActivities
from activities.carrier import CarrierActivities
from activities.inventory import InventoryActivities
from activities.orders import OrderActivities
from activities.warehouse import WarehouseActivities
from domain.orders import Address, Customer, Order, OrderLine, OrderStatus
from domain.steps import BookShipment, ConfirmOrder, CreatePickList, IssueInvoice, ReserveStock, StockLine
from store import orders
from store.db import create_engine, create_sessions
from store.tables import Invoice, Shipment, Stock, StockMove
from tests.conftest import stock_up, unique

SHANGHAI = Address("Li Wei", "88 Century Ave", "Shanghai", "200120", "CN")


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield create_sessions(engine)
    await engine.dispose()


async def test_every_step_of_an_order_twice(db: async_sessionmaker[AsyncSession]) -> None:
    a, b = unique("TWICE"), unique("TWICE")
    await stock_up(db, {a: 10, b: 10})
    order = Order(
        "web",
        unique("AGAIN"),
        Customer("C", "C", "c@example.com"),
        SHANGHAI,
        [OrderLine(a, 2, 100), OrderLine(b, 1, 100)],
        "CNY",
    )
    now = datetime.now(UTC)
    confirm = ConfirmOrder(order, now, now + timedelta(days=1), seq=1)
    reserve = ReserveStock(order.order_id, [StockLine(a, 2), StockLine(b, 1)], SHANGHAI, False, now, seq=2)

    for _ in range(2):
        assert (await OrderActivities(db).confirm_order(confirm)).ok
    first = await InventoryActivities(db).reserve_stock(reserve)
    again = await InventoryActivities(db).reserve_stock(reserve)
    assert (
        [x.allocation_id for x in first.allocations]
        == [x.allocation_id for x in again.allocations]
        == [f"{order.order_id}.1"]
    )
    # The report of the earlier run lists the lines by SKU.
    assert sorted(again.allocations[0].lines, key=str) == sorted(first.allocations[0].lines, key=str)
    assert not again.backordered
    allocation = first.allocations[0]
    pick = CreatePickList(order.order_id, allocation, OrderStatus.PICKING, seq=3)
    pick_list = await WarehouseActivities(db, None).create_pick_list(pick)
    assert await WarehouseActivities(db, None).create_pick_list(pick) == pick_list
    ship = BookShipment(
        order.order_id, allocation, pick_list.pick_list_id, SHANGHAI, now, "picker", OrderStatus.SHIPPED, seq=4
    )
    shipment = await CarrierActivities(db, "builtin").book_shipment(ship)
    assert await CarrierActivities(db, "builtin").book_shipment(ship) == shipment
    bill = IssueInvoice(
        order.order_id,
        allocation.allocation_id,
        shipment.shipment_id,
        order.total,
        "CNY",
        order.lines,
        OrderStatus.COMPLETED,
        seq=5,
    )
    invoice = await BillingActivities(db).issue_invoice(bill)
    assert await BillingActivities(db).issue_invoice(bill) == invoice
    assert invoice.number.startswith("INV-") and invoice.amount == order.total
    # Run again once the goods have left (a workflow task timed out after its local steps had run): the
    # reservation is consumed, and the step still reports it, not a backorder.
    late = await InventoryActivities(db).reserve_stock(reserve)
    assert [x.allocation_id for x in late.allocations] == [f"{order.order_id}.1"] and not late.backordered

    async with db() as s:
        for sku, quantity in ((a, 2), (b, 1)):
            stock = await s.get(Stock, ("MAIN", sku))
            assert stock is not None and (stock.on_hand, stock.reserved) == (10 - quantity, 0)
            moves = await s.execute(
                select(StockMove.kind, StockMove.on_hand_change, StockMove.reserved_change)
                .where(StockMove.sku == sku, StockMove.kind != "adjustment")
                .order_by(StockMove.id)
            )
            assert [tuple(m) for m in moves] == [("reservation", 0, quantity), ("shipment", -quantity, -quantity)]
        shipments = await s.execute(select(func.count()).where(Shipment.order_id == order.order_id))
        assert shipments.scalar_one() == 1
        numbers = await s.execute(select(Invoice.number).where(Invoice.order_id == order.order_id))
        assert numbers.scalars().all() == [invoice.number]
        row = await orders.get(s, order.order_id)
        assert row is not None and (row.status, row.status_seq) == ("completed", 5)
        timeline = [e.event for e in await orders.timeline_of(s, order.order_id)]
        assert timeline == ["received", "confirmed", "allocated", "pick_list_created", "picked", "shipped", "invoiced"]
