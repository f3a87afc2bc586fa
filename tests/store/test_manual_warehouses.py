"""A warehouse named in manual_warehouses waits for its pick confirmations even when the worker runs the
built-in warehouse in auto mode; the other warehouses still confirm by themselves."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.inventory import InventoryActivities
from activities.orders import OrderActivities
from activities.warehouse import WarehouseActivities
from domain.orders import Address, Customer, Order, OrderLine, OrderStatus
from domain.steps import ConfirmOrder, CreatePickList, ReserveStock, StockLine
from store.db import create_engine, create_sessions
from tests.conftest import stock_up, unique

SHANGHAI = Address("Li Wei", "88 Century Ave", "Shanghai", "200120", "CN")


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield create_sessions(engine)
    await engine.dispose()


async def test_a_manual_warehouse_waits_for_its_pick_confirmation_in_auto_mode(
    db: async_sessionmaker[AsyncSession],
) -> None:
    sku = unique("MANUAL")
    await stock_up(db, {sku: 5})
    order = Order("web", unique("MW"), Customer("C", "C", "c@example.com"), SHANGHAI, [OrderLine(sku, 1, 100)], "CNY")
    now = datetime.now(UTC)
    await OrderActivities(db).confirm_order(ConfirmOrder(order, now, now + timedelta(days=1), seq=1))
    reserved = await InventoryActivities(db).reserve_stock(
        ReserveStock(order.order_id, [StockLine(sku, 1)], SHANGHAI, False, now, seq=2)
    )
    allocation = reserved.allocations[0]
    pick = CreatePickList(order.order_id, allocation, OrderStatus.PICKING, seq=3)

    manual = WarehouseActivities(db, 0.0, manual_warehouses=frozenset({allocation.warehouse}))
    elsewhere = WarehouseActivities(db, 0.0, manual_warehouses=frozenset({"ELSEWHERE"}))

    assert (await manual.create_pick_list(pick)).auto_confirm_after_seconds is None
    assert (await elsewhere.create_pick_list(pick)).auto_confirm_after_seconds == 0.0
