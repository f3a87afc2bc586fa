"""GET /v1/kpis from the rollup (store/kpi_rollup.py): the whole UTC hours of the window from kpi_counts,
plus the orders received in them not settled yet and the exceptions raised in them still open, read
from their rows; the parts of an hour at either end of the window from the read model (store/kpis.py).
Without a warehouse or carrier filter: the rollup keeps channels only.
"""

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import false, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.kpi_marks import order_facts
from domain.kpi_tally import Tally, add_exception, add_order, epoch_hour, hour_start, report, tallies_of
from domain.kpis import ExceptionFacts, Kpis, Point, bucket_size, buckets, first_human_action
from store import kpis
from store.tables import KPI_COUNTS, OrderExceptionRow, OrderRow

HOUR = timedelta(hours=1)


def _floor_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _ceil_hour(at: datetime) -> datetime:
    floor = _floor_hour(at)
    return floor if floor == at else floor + HOUR


async def kpi_report(session: AsyncSession, f: kpis.KpiFilter, now: datetime) -> tuple[Kpis, list[Point]]:
    starts = buckets(f.start, f.end)
    first, last = _ceil_hour(f.start), _floor_hour(f.end)
    whole = first < last
    edges = [(a, b) for a, b in ((f.start, first), (last, f.end)) if a < b] if whole else [(f.start, f.end)]
    tallies: list[tuple[datetime, Tally]] = []
    for a, b in edges:
        tallies += tallies_of(await kpis.facts(session, kpis.KpiFilter(a, b, f.channel)), now)
    if whole:
        daily = bucket_size(f.start, f.end) == timedelta(days=1)
        tallies += await _rolled_up(session, epoch_hour(first), epoch_hour(last), f.channel, daily)
        tallies += await _open_orders(session, first, last, f.channel, now)
        tallies += await _open_exceptions(session, first, last, f.channel)
    return report(tallies, starts)


async def _rolled_up(
    session: AsyncSession, first: int, last: int, channel: str | None, daily: bool
) -> list[tuple[datetime, Tally]]:
    t = KPI_COUNTS.c
    bucket = (t.hour // 24) if daily else t.hour
    conditions: list[Any] = [t.hour >= first, t.hour < last]
    if channel:
        conditions.append(t.channel == channel)
    rows = await session.execute(
        select(bucket, t.name, t.bin, func.sum(t.n), func.sum(t.total))
        .where(*conditions)
        .group_by(bucket, t.name, t.bin)
    )
    by_bucket: dict[int, Tally] = defaultdict(Tally)
    for b, name, bin_, n, total in rows:
        by_bucket[b].add(name, bin_, int(n), int(total))
    return [(hour_start(b * 24 if daily else b), tally) for b, tally in sorted(by_bucket.items())]


async def _open_orders(
    session: AsyncSession, first: datetime, last: datetime, channel: str | None, now: datetime
) -> list[tuple[datetime, Tally]]:
    o = OrderRow
    conditions: list[Any] = [o.kpi_settled == false(), o.created_at >= first, o.created_at < last]
    if channel:
        conditions.append(o.channel == channel)
    rows = await session.execute(
        select(
            o.order_id,
            o.channel,
            o.created_at,
            o.status,
            o.ship_by,
            o.kpi_flags,
            o.kpi_shipped_at,
            o.kpi_delivered_at,
            o.kpi_warned_at,
            o.kpi_units_ordered,
            o.kpi_units_first,
        ).where(*conditions)
    )
    by_hour: dict[int, Tally] = defaultdict(Tally)
    for row in rows:
        facts = order_facts(
            row.order_id,
            row.channel,
            row.created_at,
            row.status,
            row.ship_by,
            row.kpi_flags,
            row.kpi_shipped_at,
            row.kpi_delivered_at,
            row.kpi_warned_at,
            row.kpi_units_ordered,
            row.kpi_units_first,
        )
        add_order(by_hour[epoch_hour(row.created_at)], facts, now)
    return [(hour_start(hour), tally) for hour, tally in sorted(by_hour.items())]


async def _open_exceptions(
    session: AsyncSession, first: datetime, last: datetime, channel: str | None
) -> list[tuple[datetime, Tally]]:
    e = OrderExceptionRow
    conditions: list[Any] = [e.resolved_at.is_(None), e.raised_at >= first, e.raised_at < last]
    if channel:
        conditions.append(e.order_id.startswith(f"{channel}-", autoescape=True))
    by_hour: dict[int, Tally] = defaultdict(Tally)
    for kind, raised_at, acknowledged_at in await session.execute(
        select(e.kind, e.raised_at, e.acknowledged_at).where(*conditions)
    ):
        raised = _utc(raised_at)
        first_action = first_human_action(None, None, _utc(acknowledged_at) if acknowledged_at else None)
        add_exception(by_hour[epoch_hour(raised)], ExceptionFacts(kind, raised, first_action, None))
    return [(hour_start(hour), tally) for hour, tally in sorted(by_hour.items())]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
