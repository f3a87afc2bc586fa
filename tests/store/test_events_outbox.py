"""The outbox is written by the projection: a replayed change adds no event, a new one adds exactly its own."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.exceptions import Action, ExceptionKind, OrderException
from domain.orders import Address, Customer, Order, OrderLine, OrderStatus, Step, TimelineEntry
from domain.steps import Alert, AlertKind, KeyedEntry, ProjectOrder
from store import events, orders
from store.tables import EventRow
from tests.conftest import unique


async def outbox_of(sessions: async_sessionmaker[AsyncSession], order_id: str) -> list[tuple[str, str]]:
    async with sessions() as s:
        rows = await s.execute(select(EventRow.type, EventRow.event_id).where(EventRow.order_id == order_id))
        return sorted((t, i) for t, i in rows)


async def test_replaying_a_projection_adds_no_event(sessions: async_sessionmaker[AsyncSession]) -> None:
    order = Order(
        "web",
        unique("OUTBOX"),
        Customer("C", "C", "c@example.com"),
        Address("C", "1 Road", "Shanghai", "200120", "CN"),
        [OrderLine("A", 1, 100)],
        "CNY",
    )
    now = datetime.now(UTC)
    async with sessions.begin() as s:
        await orders.record_new(s, order, OrderStatus.RECEIVED, now, now, seq=1)
    exception = OrderException(f"{order.order_id}-EX1", ExceptionKind.STOCK_SHORTAGE, Step.ALLOCATE, "none", now)
    opened = ProjectOrder(
        order.order_id,
        OrderStatus.NEEDS_ATTENTION,
        [KeyedEntry("wf:3", TimelineEntry(now, OrderStatus.NEEDS_ATTENTION, "exception_opened", "stock_shortage"))],
        [exception],
        [Alert(f"{exception.exception_id}:opened", AlertKind.EXCEPTION_OPENED, order.order_id, "none", now)],
        seq=2,
    )
    for _ in range(2):  # the activity retried after its first attempt committed
        async with sessions.begin() as s:
            await orders.project(s, opened)
    assert [t for t, _ in await outbox_of(sessions, order.order_id)] == ["exception.opened"]

    later = now + timedelta(minutes=5)
    exception.resolved_at, exception.resolution, exception.resolved_by = later, Action.CANCEL, "key:ops"
    cancelled = ProjectOrder(
        order.order_id,
        OrderStatus.CANCELLED,
        [KeyedEntry("wf:4", TimelineEntry(later, OrderStatus.CANCELLED, "cancelled", "customer asked", "key:ops"))],
        [exception],
        seq=3,
    )
    for _ in range(3):
        async with sessions.begin() as s:
            await orders.project(s, cancelled)
    found = await outbox_of(sessions, order.order_id)
    assert [t for t, _ in found] == ["exception.opened", "exception.resolved", "order.cancelled"]
    async with sessions() as s:
        pending = await events.undispatched(s, 10_000)
        assert {e.event_id for e in pending} >= {i for _, i in found}
        total = (await s.execute(select(func.count()).select_from(EventRow))).scalar_one()
    async with sessions.begin() as s:  # a projection for an order never recorded writes nothing, events neither
        await orders.project(s, ProjectOrder("web-NEVER-RECORDED", OrderStatus.CANCELLED, cancelled.entries, seq=9))
    async with sessions() as s:
        assert (await s.execute(select(func.count()).select_from(EventRow))).scalar_one() == total
