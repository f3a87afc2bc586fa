"""Orders driven through the projection (store/orders.project, as the steps call it) give the same KPIs
from the rollup as from reading every fact of the read model: counts and rates exactly, hours within the
bins' stated precision. The same holds after the channel's rollup is wiped and filled again by the
backfill (the acknowledgements of alerts it carries over are every channel's: idempotent), and in a
database upgraded with orders in it."""

import asyncio
import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from alembic import command
from sqlalchemy import Connection, MetaData, Table, delete, insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.kpis import TABLES, order_rows
from domain.exceptions import Action, ExceptionKind, OrderException
from domain.kpis import compute, series
from domain.orders import Address, Customer, Order, OrderLine, OrderStatus, Step, TimelineEntry
from domain.steps import Alert, KeyedEntry, ProjectOrder
from store import kpi_backfill, kpi_read, kpis, migrate, orders
from store.db import create_engine, create_sessions
from store.tables import KPI_COUNTS, OrderExceptionRow, OrderRow, PickList, Reservation, Shipment
from tests.unit.test_kpi_tally import assert_close

T0 = datetime(2025, 3, 2, tzinfo=UTC)
NOW = datetime(2025, 3, 9, tzinfo=UTC)
S = OrderStatus


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


class Orders:
    def __init__(self, s: AsyncSession, channel: str) -> None:
        self.s, self.channel, self.seq = s, channel, 1

    async def receive(self, name: str, at: datetime, ship_by: datetime, quantity: int) -> str:
        order = Order(
            self.channel,
            name,
            Customer("C", "C", "c@example.com"),
            Address("C", "1 Road", "Shanghai", "200120", "CN"),
            [OrderLine("SKU-K", quantity, 100)],
            "CNY",
        )
        await orders.record_new(self.s, order, S.RECEIVED, at, ship_by, seq=1)
        return order.order_id

    async def project(self, order_id: str, status: S, *entries: tuple[str, datetime, str, str], **more: Any) -> None:
        self.seq += 1
        units = more.pop("units", None)
        keyed = [KeyedEntry(key, TimelineEntry(at, status, event, actor=actor)) for key, at, event, actor in entries]
        await orders.project(self.s, ProjectOrder(order_id, status, keyed, seq=self.seq, **more), units_reserved=units)

    async def allocate(self, order_id: str, at: datetime, quantity: int) -> None:
        row = {"allocation_id": f"{order_id}.1", "sku": "SKU-K", "order_id": order_id, "warehouse": "MAIN"}
        await self.s.execute(insert(Reservation), [{**row, "quantity": quantity, "state": "active", "created_at": at}])
        await self.project(order_id, S.ALLOCATED, ("allocation:1", at, "allocated", "system"), units=quantity)

    async def ship(self, order_id: str, at: datetime, picked_by: str = "warehouse") -> None:
        pick_list = f"PL-{order_id}.1-MAIN"
        await self.s.execute(
            insert(PickList),
            [{"pick_list_id": pick_list, "order_id": order_id, "warehouse": "MAIN", "lines": [], "state": "confirmed",
              "created_at": at, "confirmed_at": at, "confirmed_by": picked_by}],
        )  # fmt: skip
        await self.s.execute(
            insert(Shipment),
            [{"shipment_id": f"SH-{order_id}", "order_id": order_id, "pick_list_id": pick_list, "carrier": "post",
              "tracking_number": f"T-{order_id}", "shipped_at": at}],
        )  # fmt: skip
        await self.s.execute(update(Reservation).where(Reservation.order_id == order_id).values(state="consumed"))
        await self.project(
            order_id,
            S.SHIPPED,
            (f"picked:{order_id}", at, "picked", picked_by),
            (f"shipped:{order_id}", at, "shipped", "system"),
        )
        await self.project(
            order_id, S.COMPLETED, (f"invoiced:{order_id}", at + timedelta(minutes=6), "invoiced", "system")
        )

    async def deliver(self, order_id: str, at: datetime) -> None:
        await self.s.execute(update(Shipment).where(Shipment.order_id == order_id).values(delivered_at=at))
        await self.project(order_id, S.DELIVERED, (f"delivered:{order_id}", at, "delivered", "partner:post"))


def exception(order_id: str, kind: ExceptionKind, raised: datetime, **resolved: Any) -> OrderException:
    return OrderException(f"{order_id}-EX1", kind, Step.SHIP, "k", raised, allowed_actions=[Action.RETRY], **resolved)


def warning(order_id: str, at: datetime) -> Alert:
    return Alert(f"{order_id}-EX1:risk", "sla_at_risk", order_id, "at risk", at, exception_id=f"{order_id}-EX1")


async def build(sessions: async_sessionmaker[AsyncSession], channel: str) -> None:
    async with sessions.begin() as s:
        o = Orders(s, channel)
        # A: touchless, shipped in 10 h, on time, delivered 30 h after receipt.
        a = await o.receive("A", h(1), h(25), 3)
        await o.allocate(a, h(1.1), 3)
        await o.ship(a, h(11))
        await o.deliver(a, h(31))
        # B: address rejected, acknowledged and resolved by a person; shipped 6 h late, warned 23.5 h ahead.
        b = await o.receive("B", h(2), h(26), 2)
        await o.allocate(b, h(2.1), 2)
        raised = exception(b, ExceptionKind.ADDRESS_REJECTED, h(2.5))
        await o.project(b, S.NEEDS_ATTENTION, exceptions=[raised], alerts=[warning(b, h(2.5))])
    async with sessions.begin() as s:
        await orders.acknowledge_alert(s, f"{b}-EX1:risk", "key:ann")
    async with sessions.begin() as s:
        o = Orders(s, channel)
        o.seq = 10
        resolved = exception(b, ExceptionKind.ADDRESS_REJECTED, h(2.5), resolved_at=h(4), resolved_by="key:ann",
                             resolution=Action.RETRY)  # fmt: skip
        await o.project(b, S.ALLOCATED, (f"resolved:{b}", h(4), "exception_resolved", "key:ann"), exceptions=[resolved])
        await o.ship(b, h(32))
        # C: cancelled by the system before allocation.
        c = await o.receive("C", h(3), h(27), 1)
        await o.project(c, S.CANCELLED, (f"cancelled:{c}", h(3.5), "cancelled", "system"))
        # D: backordered at its first allocation, a step failed for good and is still open: a breach warned 25 h ahead.
        d = await o.receive("D", h(4), h(30), 4)
        await o.project(d, S.BACKORDERED, ("allocation:1", h(4.1), "backordered", "system"))
        await o.project(d, S.NEEDS_ATTENTION, exceptions=[exception(d, ExceptionKind.STEP_FAILED, h(5))],
                        alerts=[warning(d, h(5))])  # fmt: skip
        # E: received in the part of an hour the window starts with; picked by a person.
        e = await o.receive("E", h(-0.25), h(24), 1)
        await o.allocate(e, h(0), 1)
        await o.ship(e, h(5), picked_by="key:bob")
        # F: held and released by a person, still picking on the second day.
        f = await o.receive("F", h(50), h(74), 2)
        await o.project(f, S.ON_HOLD, (f"held:{f}", h(51), "held", "key:ann"))
        await o.project(f, S.CONFIRMED, (f"released:{f}", h(52), "released", "key:ann"))
        await o.allocate(f, h(52.1), 2)
        # G: received in the part of an hour the window ends with.
        await o.receive("G", h(72.1), h(96), 1)


async def assert_rollup_matches(sessions: async_sessionmaker[AsyncSession], channel: str) -> dict[str, Any]:
    # Daily series: whole days; whole days and hours after them; hours around a whole day. An hourly one.
    windows = [(h(-0.5), h(72 + 1 / 3)), (h(-0.5), h(60.2)), (h(5.5), h(70.7)), (h(-0.5), h(40.2))]
    for start, end in windows:
        window = kpis.KpiFilter(start, end, channel)
        async with sessions() as s:
            facts = await kpis.facts(s, window)
            figures, points = await kpi_read.kpi_report(s, window, NOW)
        assert_close(figures, compute(facts, NOW))
        assert_close(points, series(facts, start, end, NOW))
    assert figures.orders == 5 and figures.manual_intervention.breakdown == {"exception_resolved": 1}
    async with sessions() as s:
        long = await kpi_read.kpi_report(s, kpis.KpiFilter(*windows[0], channel), NOW)
    return {"orders": long[0].orders, "errors": long[0].errors.breakdown, "late": long[0].on_time_ship.late}


async def test_the_rollup_kept_by_the_projection_and_the_backfill_give_the_exact_kpis(database_url: str) -> None:
    channel = f"k{uuid.uuid4().hex[:8]}"  # a channel of its own: the database is shared with other tests
    engine = create_engine(database_url)
    sessions = create_sessions(engine)
    try:
        await build(sessions, channel)
        kept = await assert_rollup_matches(sessions, channel)
        assert kept == {
            "orders": 7,
            "errors": {"address_rejected": 1, "step_failed": 1, "system_cancelled": 1},
            "late": 4,  # B shipped late; D, F and G not shipped by their ship-by
        }
        async with sessions.begin() as s:  # as before the rollup existed
            await s.execute(delete(KPI_COUNTS).where(KPI_COUNTS.c.channel == channel))
            await s.execute(
                update(OrderRow).where(OrderRow.channel == channel).values(
                    kpi_flags=0, kpi_settled=False, kpi_shipped_at=None, kpi_delivered_at=None, kpi_warned_at=None,
                    kpi_units_ordered=0, kpi_units_first=None,
                )
            )  # fmt: skip
            await s.execute(
                update(OrderExceptionRow)
                .where(OrderExceptionRow.order_id.startswith(f"{channel}-"))
                .values(acknowledged_at=None)
            )
        async with sessions.begin() as s:
            assert await kpi_backfill.backfill(s, [channel]) == 7
        assert await assert_rollup_matches(sessions, channel) == kept
    finally:
        await engine.dispose()


def reflect(connection: Connection, name: str) -> Table:
    return Table(name, MetaData(), autoload_with=connection)


async def test_an_upgraded_database_gets_its_rollup_from_the_migration(tmp_path: Any) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'upgrade.db'}"
    config = migrate.alembic_config(url)
    await asyncio.to_thread(command.upgrade, config, "0016_console_customer_search")
    engine = create_engine(url)
    try:
        rng, end = random.Random(7), datetime(2026, 12, 1, tzinfo=UTC)
        rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for i in range(300):  # the read model's rows as the projection wrote them, before the rollup existed
            for name, part in order_rows(i, end - timedelta(days=3) + i * timedelta(minutes=13), rng).items():
                rows[name] += part
        async with engine.begin() as c:
            for name, model in TABLES:
                if rows[name]:  # the tables as they were at 0015, not as the models are now
                    table = await c.run_sync(reflect, model.__tablename__)
                    await c.execute(insert(table), rows[name])
        await asyncio.to_thread(command.upgrade, config, "head")
        sessions = create_sessions(engine)
        for start, stop in (
            (end - timedelta(days=4), end),
            (end - timedelta(days=2, minutes=17), end - timedelta(minutes=41)),
        ):
            window = kpis.KpiFilter(start, stop)
            async with sessions() as s:
                facts = await kpis.facts(s, window)
                figures, points = await kpi_read.kpi_report(s, window, NOW)
            assert figures.orders == len(facts.orders) > 100
            assert_close(figures, compute(facts, NOW))
            assert_close(points, series(facts, start, stop, NOW))
    finally:
        await engine.dispose()
