"""Stock is conserved: whatever sequence of receipts, counts, reservations, releases and shipments runs,
on_hand and reserved equal the sums of their ledger entries, reserved equals what active reservations
hold, and nothing is ever negative."""

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from domain.orders import Address, Customer, Order, OrderLine, OrderStatus
from domain.steps import StockLine
from store import catalog, inventory, migrate, orders
from store.db import create_engine, create_sessions
from store.inventory import Hold
from store.sql import utcnow
from store.tables import Reservation, Stock, StockMove

SKUS = ["A", "B"]
WAREHOUSES = ["W1", "W2"]
ORDERS = [f"web-P{i}" for i in range(4)]

operation = st.one_of(
    st.tuples(st.just("receive"), st.sampled_from(WAREHOUSES), st.sampled_from(SKUS), st.integers(1, 5)),
    st.tuples(st.just("count"), st.sampled_from(WAREHOUSES), st.sampled_from(SKUS), st.integers(0, 8)),
    st.tuples(
        st.just("reserve"),
        st.sampled_from(WAREHOUSES),
        st.sampled_from(SKUS),
        st.integers(1, 4),
        st.sampled_from(ORDERS),
    ),
    st.tuples(st.just("release"), st.sampled_from(ORDERS)),
    st.tuples(st.just("ship"), st.sampled_from(ORDERS)),
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("conservation") / "template.db"
    url = f"sqlite+aiosqlite:///{path}"
    migrate.upgrade(url)

    async def setup() -> None:
        engine = create_engine(url)
        async with create_sessions(engine).begin() as s:
            for code in WAREHOUSES:
                await catalog.ensure_warehouse(s, code, code)
            for sku in SKUS:
                await catalog.put_product(s, sku, sku, 100, "CNY", True)
            for order_id in ORDERS:
                channel, external_id = order_id.split("-", 1)
                order = Order(
                    channel,
                    external_id,
                    Customer("C", "C", "c@example.com"),
                    Address("C", "1 Road", "City", "100000", "CN"),
                    [OrderLine("A", 1, 100)],
                    "CNY",
                )
                await orders.record_new(s, order, OrderStatus.CONFIRMED, utcnow(), utcnow())
        await engine.dispose()

    asyncio.run(setup())
    return path


async def run(path: Path, operations: list[tuple[Any, ...]]) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    sessions = create_sessions(engine)
    allocations = dict.fromkeys(ORDERS, 0)
    try:
        for op in operations:
            async with sessions.begin() as s:
                match op:
                    case ("receive", warehouse, sku, quantity):
                        await inventory.receive(s, warehouse, [StockLine(sku, quantity)], f"ref-{id(op)}-{len(op)}")
                    case ("count", warehouse, sku, on_hand):
                        try:
                            async with s.begin_nested():
                                await inventory.count(s, warehouse, sku, on_hand, "count")
                        except ValueError:
                            pass  # counting below what is reserved is refused, and changes nothing
                    case ("reserve", warehouse, sku, quantity, order_id):
                        allocations[order_id] += 1
                        allocation_id = f"{order_id}.{allocations[order_id]}"
                        attempt = await s.begin_nested()
                        held = await inventory.reserve(
                            s, order_id, [Hold(allocation_id, warehouse, [StockLine(sku, quantity)])]
                        )
                        await (attempt.commit() if held else attempt.rollback())
                    case ("release", order_id):
                        await inventory.release(s, order_id, "released")
                    case ("ship", order_id):
                        for n in range(1, allocations[order_id] + 1):
                            await inventory.consume(s, f"{order_id}.{n}")
            await check(sessions)
    finally:
        await engine.dispose()


async def check(sessions: Any) -> None:
    async with sessions() as s:
        for stock in (await s.execute(select(Stock))).scalars():
            ledger = (
                await s.execute(
                    select(func.sum(StockMove.on_hand_change), func.sum(StockMove.reserved_change)).where(
                        StockMove.warehouse == stock.warehouse, StockMove.sku == stock.sku
                    )
                )
            ).one()
            held = (
                await s.execute(
                    select(func.coalesce(func.sum(Reservation.quantity), 0)).where(
                        Reservation.warehouse == stock.warehouse,
                        Reservation.sku == stock.sku,
                        Reservation.state == "active",
                    )
                )
            ).scalar_one()
            assert (stock.on_hand, stock.reserved) == (ledger[0] or 0, ledger[1] or 0)
            assert stock.reserved == held
            assert 0 <= stock.reserved <= stock.on_hand


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(operation, min_size=1, max_size=25))
def test_stock_is_conserved(template: Path, tmp_path: Path, operations: list[tuple[Any, ...]]) -> None:
    path = tmp_path / f"run-{abs(hash(tuple(operations)))}.db"
    shutil.copy(template, path)
    try:
        asyncio.run(run(path, operations))
    finally:
        path.unlink(missing_ok=True)
