"""The read model follows the workflow forward only: a late write (a slow retry) cannot undo a newer one."""

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.orders import Address, Customer, Order, OrderLine, OrderStatus, TimelineEntry
from domain.steps import KeyedEntry, ProjectOrder
from store import orders
from tests.conftest import unique


async def test_a_late_status_write_does_not_move_the_order_back(sessions: async_sessionmaker[AsyncSession]) -> None:
    order = Order(
        "web",
        unique("LATE"),
        Customer("C", "C", "c@example.com"),
        Address("C", "1 Road", "Shanghai", "200120", "CN"),
        [OrderLine("A", 1, 100)],
        "CNY",
    )
    now = datetime.now(UTC)
    async with sessions.begin() as s:
        await orders.record_new(s, order, OrderStatus.RECEIVED, now, now, seq=1)
    picking = TimelineEntry(now, OrderStatus.PICKING, "pick_list_created")
    confirmed = TimelineEntry(now, OrderStatus.CONFIRMED, "confirmed")
    async with sessions.begin() as s:
        await orders.project(s, ProjectOrder(order.order_id, OrderStatus.PICKING, [KeyedEntry("p", picking)], seq=3))
    async with sessions.begin() as s:  # the confirm step's first attempt, committing long after it was given up
        await orders.project(
            s, ProjectOrder(order.order_id, OrderStatus.CONFIRMED, [KeyedEntry("c", confirmed)], seq=2)
        )
    async with sessions() as s:
        row = await orders.get(s, order.order_id)
        assert row is not None and row.status == "picking"
        assert {e.event for e in await orders.timeline_of(s, order.order_id)} == {"pick_list_created", "confirmed"}
