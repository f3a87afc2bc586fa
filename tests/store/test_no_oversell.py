"""Concurrent orders for scarce stock on PostgreSQL: never more reserved than there is, never a deadlock."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.inventory import InventoryActivities
from domain.orders import Address, Customer, Order, OrderLine, OrderStatus
from domain.steps import ReserveStock, StockLine, StockReserved
from store import orders
from store.db import create_engine, create_sessions
from store.sql import utcnow
from store.tables import Stock, StockMove
from tests.conftest import stock_up, unique

SHANGHAI = Address("Li Wei", "88 Century Ave", "Shanghai", "200120", "CN")


@pytest.fixture
async def pg_sessions(postgres_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(postgres_url)
    yield create_sessions(engine)
    await engine.dispose()


async def place(sessions: async_sessionmaker[AsyncSession], count: int, lines: dict[str, int]) -> list[str]:
    ids = []
    async with sessions.begin() as s:
        for _ in range(count):
            order = Order(
                "web",
                unique("RACE"),
                Customer("C", "C", "c@example.com"),
                SHANGHAI,
                [OrderLine(sku, qty, 100) for sku, qty in lines.items()],
                "CNY",
            )
            await orders.record_new(s, order, OrderStatus.CONFIRMED, utcnow(), utcnow())
            ids.append(order.order_id)
    return ids


def reserve(activities: InventoryActivities, order_id: str, lines: list[StockLine]) -> "asyncio.Future[StockReserved]":
    request = ReserveStock(order_id, lines, SHANGHAI, rush=False, received_at=utcnow())
    return asyncio.ensure_future(activities.reserve_stock(request))


async def test_two_hundred_orders_for_ten_units_reserve_exactly_ten(
    pg_sessions: async_sessionmaker[AsyncSession],
) -> None:
    sku = unique("SCARCE")
    await stock_up(pg_sessions, {sku: 10})
    activities = InventoryActivities(pg_sessions)
    ids = await place(pg_sessions, 200, {sku: 1})

    results = await asyncio.gather(*(reserve(activities, order_id, [StockLine(sku, 1)]) for order_id in ids))

    allocated = [r for r in results if r.allocations]
    assert len(allocated) == 10
    assert all(r.backordered == [StockLine(sku, 1)] for r in results if not r.allocations)
    async with pg_sessions() as s:
        stock = await s.get(Stock, ("MAIN", sku))
        assert stock is not None and (stock.on_hand, stock.reserved) == (10, 10)
        reservations = await s.execute(
            select(func.count(), func.sum(StockMove.reserved_change)).where(
                StockMove.sku == sku, StockMove.kind == "reservation"
            )
        )
        assert tuple(reservations.one()) == (10, 10)  # every reserved unit is in the ledger once


async def test_orders_locking_skus_in_opposite_order_do_not_deadlock(
    pg_sessions: async_sessionmaker[AsyncSession],
) -> None:
    a, b = unique("A"), unique("B")
    await stock_up(pg_sessions, {a: 100, b: 100})
    activities = InventoryActivities(pg_sessions)
    forward = await place(pg_sessions, 40, {a: 1, b: 1})
    backward = await place(pg_sessions, 40, {b: 1, a: 1})

    results = await asyncio.gather(
        *(reserve(activities, order_id, [StockLine(a, 1), StockLine(b, 1)]) for order_id in forward),
        *(reserve(activities, order_id, [StockLine(b, 1), StockLine(a, 1)]) for order_id in backward),
    )

    assert all(r.allocations and not r.backordered for r in results)
    async with pg_sessions() as s:
        for sku in (a, b):
            stock = await s.get(Stock, ("MAIN", sku))
            assert stock is not None and stock.reserved == 80
