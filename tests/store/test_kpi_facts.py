"""The KPIs counted in SQL (rollup, facts rows at the window's edges, index walks) are the domain's
formulas: the same orders, computed both ways, give the same figures."""

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from bench.kpis import TABLES, order_rows
from domain.kpis import (
    ERROR_BITS,
    TOUCH_BITS,
    Action,
    ExceptionFacts,
    Facts,
    OrderFacts,
    compute,
    is_person,
    names_of,
    series,
)
from store import kpi_facts, kpis, migrate
from store.db import create_engine, create_sessions
from store.tables import (
    KPI_ROLLUP,
    ROLLUP_COUNTERS,
    AlertRow,
    KpiFactRow,
    OrderEvent,
    OrderExceptionRow,
    Reservation,
)
from tests.conftest import fresh_postgres

BASE = datetime(2031, 3, 1, 5, 17, tzinfo=UTC)
ORDERS = 400
FIRST = 9_100_000


@pytest.fixture(params=["sqlite", "postgres"])
async def own_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database of its own: 400 bench orders would crowd other tests' order listings."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'kpis.db'}"
        await asyncio.to_thread(migrate.upgrade, url)
        yield url
    else:
        async with fresh_postgres() as url:
            yield url


def test_rollup_counters_are_the_domain_bits() -> None:
    assert [n for n in ROLLUP_COUNTERS if n.startswith("touch_")] == [f"touch_{n}" for n in TOUCH_BITS]
    assert [n for n in ROLLUP_COUNTERS if n.startswith("error_")] == [f"error_{n}" for n in ERROR_BITS]


async def _domain_facts(session: Any, f: kpis.KpiFilter) -> Facts:
    """The facts of the window the plain way: every row into Python."""
    keep: set[str] | None = None
    if f.warehouse:
        keep = set(
            (await session.execute(select(Reservation.order_id).where(Reservation.warehouse == f.warehouse))).scalars()
        )

    def wanted(order_id: str, channel: str) -> bool:
        return (f.channel is None or channel == f.channel) and (keep is None or order_id in keep)

    facts = [row for row in (await session.execute(select(KpiFactRow))).scalars() if wanted(row.order_id, row.channel)]
    orders = [
        OrderFacts(
            order_id=r.order_id,
            channel=r.channel,
            received_at=r.received_at,
            status=r.status,
            ship_by=r.ship_by,
            shipped_at=r.shipped_at,
            delivered_at=r.received_at + timedelta(hours=r.delivered_hours) if r.delivered_hours is not None else None,
            touches=names_of(r.touches, TOUCH_BITS),
            errors=names_of(r.errors, ERROR_BITS),
            units_ordered=r.units_ordered,
            units_first_allocation=r.units_first_allocation,
            first_warning_at=(
                r.ship_by - timedelta(hours=r.warning_lead_hours)
                if r.warning_lead_hours is not None and r.ship_by
                else None
            ),
        )
        for r in facts
        if f.start <= r.received_at < f.end + timedelta(minutes=1)
    ]
    channels = {r.order_id: r.channel for r in facts}
    completions = [r.completed_at for r in facts if r.completed_at and f.start <= r.completed_at < f.end]
    events = await session.execute(
        select(OrderEvent.order_id, OrderEvent.occurred_at, OrderEvent.actor).where(
            OrderEvent.occurred_at >= f.start, OrderEvent.occurred_at < f.end
        )
    )
    actions = [Action(at, actor) for order_id, at, actor in events if is_person(actor) and order_id in channels]
    acknowledged: dict[str, datetime] = {}
    for exception_id, at, by in await session.execute(
        select(AlertRow.exception_id, AlertRow.acknowledged_at, AlertRow.acknowledged_by)
    ):
        if exception_id and at and is_person(by):
            acknowledged[exception_id] = min(at, acknowledged.get(exception_id, at))
    exceptions = []
    for row in (await session.execute(select(OrderExceptionRow))).scalars():
        if row.order_id in channels and f.start <= row.raised_at < f.end:
            human = [
                t
                for t in (acknowledged.get(row.exception_id), row.resolved_at if is_person(row.resolved_by) else None)
                if t
            ]
            exceptions.append(ExceptionFacts(row.kind, row.raised_at, min(human) if human else None, row.resolved_at))
    return Facts(orders=orders, exceptions=exceptions, completions=completions, actions=actions)


def _close(a: Any, b: Any) -> None:
    """Equal, floats to 1e-9 relative (hours rebuilt from stored hours differ in the last bits)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _close(a[key], b[key])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _close(x, y)
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9)
    else:
        assert a == b


async def test_sql_figures_are_the_domain_formulas(own_database: str) -> None:
    engine = create_engine(own_database)
    sessions = create_sessions(engine)
    rng = random.Random(15)
    step = timedelta(days=3) / ORDERS
    batch: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in TABLES}
    for i in range(ORDERS):
        for name, rows in order_rows(FIRST + i, BASE + i * step, rng).items():
            batch[name] += rows
    ids = [row["order_id"] for row in batch["orders"]]
    try:
        async with sessions.begin() as s:
            for name, model in TABLES:
                if batch[name]:
                    await s.execute(insert(model), batch[name])
            await kpi_facts.refresh(s, ids)
        async with sessions.begin() as s:  # again, for some: the rollup moves by the difference only
            await kpi_facts.refresh(s, ids[::3])
        async with sessions() as s:
            hours = select(func.sum(KPI_ROLLUP.c.orders)).where(
                KPI_ROLLUP.c.hour >= kpi_facts.epoch_hour(BASE), KPI_ROLLUP.c.hour < kpi_facts.epoch_hour(BASE) + 24 * 4
            )
            assert (await s.execute(hours)).scalar_one() == ORDERS
            now = BASE + timedelta(days=3, hours=20)  # some unshipped orders late, some not yet
            for f in (
                kpis.KpiFilter(BASE + timedelta(minutes=7), BASE + timedelta(days=3, minutes=13)),
                kpis.KpiFilter(BASE, BASE + timedelta(days=4), channel="app"),
                kpis.KpiFilter(BASE + timedelta(hours=5, minutes=30), BASE + timedelta(hours=35), channel="web"),
                kpis.KpiFilter(BASE - timedelta(hours=1), BASE + timedelta(days=2), warehouse="SH1"),
                kpis.KpiFilter(BASE + timedelta(minutes=1), BASE + timedelta(minutes=50)),
            ):
                figures, points = await kpis.report(s, f, now)
                facts = await _domain_facts(s, f)
                assert figures.orders > 0
                _close(kpis_dict(figures), kpis_dict(compute(facts, now)))
                _close([kpis_dict(p) for p in points], [kpis_dict(p) for p in series(facts, f.start, f.end, now)])
    finally:
        await engine.dispose()


def kpis_dict(value: Any) -> Any:
    return asdict(value)
