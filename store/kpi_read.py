"""GET /v1/kpis from the rollup (store/kpi_rollup.py), for a window without a warehouse or carrier filter
(the rollup keeps channels only):
- the whole UTC days of a daily series from the day rows of kpi_counts, the rest of its whole hours (and
  every whole hour of an hourly series) from the hour rows;
- the orders received in those hours that have not settled, counted in SQL by their marks (bits, how
  they stand against ship-by, units), and the exceptions raised in them still open, counted by kind;
- the part of an hour at either end of the window from the orders' marks and the read model's exceptions,
  completions and timeline.
"""

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, false, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.kpi_marks import NO_PROMISE, PROMISE_AHEAD, PROMISE_PASSED, SHIPPED, grouped_facts, order_facts
from domain.kpi_tally import (
    PERSON,
    SERIES_COUNTS,
    SERIES_HISTS,
    Tally,
    add_exception,
    add_order,
    hour_start,
    report,
    tallies_of,
)
from domain.kpis import ExceptionFacts, Facts, Kpis, OrderFacts, Point, bucket_size, buckets
from store import kpis
from store.kpi_rollup import ALL_CHANNELS, DAY, HOUR
from store.tables import KPI_COUNTS, OrderExceptionRow, OrderRow

Tallies = list[tuple[datetime, Tally]]
Rolled = tuple[Tallies, Tally]  # per period for the series, and added up for the figures
_o = OrderRow
MARKS = (
    _o.order_id,
    _o.channel,
    _o.created_at,
    _o.status,
    _o.ship_by,
    _o.kpi_flags,
    _o.kpi_shipped_at,
    _o.kpi_delivered_at,
    _o.kpi_warned_at,
    _o.kpi_units_ordered,
    _o.kpi_units_first,
)


def _floor(at: datetime, size: timedelta) -> datetime:
    at = at.astimezone(UTC)
    floor = at.replace(minute=0, second=0, microsecond=0)
    return floor.replace(hour=0) if size == timedelta(days=1) else floor


def _ceil(at: datetime, size: timedelta) -> datetime:
    floor = _floor(at, size)
    return floor if floor == at else floor + size


def _hours(at: datetime) -> int:
    return int(at.timestamp()) // 3600


async def kpi_report(session: AsyncSession, f: kpis.KpiFilter, now: datetime) -> tuple[Kpis, list[Point]]:
    hour, day = timedelta(hours=1), timedelta(days=1)
    first, last = _ceil(f.start, hour), _floor(f.end, hour)
    if first >= last:
        return report(await _edge(session, f.start, f.end, f.channel, now), buckets(f.start, f.end))
    tallies: Tallies = []
    rolled: list[Rolled] = []
    for a, b in ((f.start, first), (last, f.end)):
        if a < b:
            tallies += await _edge(session, a, b, f.channel, now)
    channel = f.channel or ALL_CHANNELS
    if bucket_size(f.start, f.end) == day and _ceil(first, day) < _floor(last, day):
        days = _ceil(first, day), _floor(last, day)
        rolled.append(await _rolled_up(session, channel, DAY, _hours(days[0]) // DAY, _hours(days[1]) // DAY))
        rolled.append(await _rolled_up(session, channel, HOUR, _hours(first), _hours(days[0]), by_day=True))
        rolled.append(await _rolled_up(session, channel, HOUR, _hours(days[1]), _hours(last), by_day=True))
    else:
        rolled.append(await _rolled_up(session, channel, HOUR, _hours(first), _hours(last)))
    daily = bucket_size(f.start, f.end) == day
    tallies += await _open_orders(session, first, last, f.channel, now, daily)
    tallies += await _open_exceptions(session, first, last, f.channel)
    figures = Tally()
    for _, part in rolled:
        figures.merge(part)
    series = [point for points, _ in rolled for point in points]
    return report(tallies, buckets(f.start, f.end), series_only=series, figures_only=figures)


async def _rolled_up(
    session: AsyncSession, channel: str, span: int, start: int, end: int, by_day: bool = False
) -> Rolled:
    """The rollup's rows of `span` for periods [start, end): what the series needs per period (hour rows
    added up per day with `by_day`), and everything added up over the periods for the figures."""
    if start >= end:
        return [], Tally()
    t = KPI_COUNTS.c
    where = (t.channel == channel, t.span == span, t.period >= start, t.period < end)
    period = t.period // DAY if by_day else t.period
    series = await session.execute(
        select(period, t.name, t.bin, func.sum(t.n), func.sum(t.total))
        .where(*where, t.name.in_(SERIES_COUNTS + SERIES_HISTS) | t.name.startswith(PERSON))
        .group_by(period, t.name, t.bin)
    )
    by_period: dict[int, Tally] = defaultdict(Tally)
    for p, name, bin_, n, total in series:
        by_period[p].add(name, bin_, int(n), int(total))
    figures = Tally()
    for name, bin_, n, total in await session.execute(
        select(t.name, t.bin, func.sum(t.n), func.sum(t.total))
        .where(*where, ~t.name.startswith(PERSON))
        .group_by(t.name, t.bin)
    ):
        figures.add(name, bin_, int(n), int(total))
    hours = DAY if by_day or span == DAY else HOUR
    return [(hour_start(p * hours), tally) for p, tally in sorted(by_period.items())], figures


async def _open_orders(
    session: AsyncSession, first: datetime, last: datetime, channel: str | None, now: datetime, daily: bool
) -> Tallies:
    """Orders received in [first, last) not settled yet: the unshipped ones counted in SQL by their marks,
    per hour or (`daily`) per UTC day, the few shipped ones (invoice to come) one by one."""
    conditions: list[Any] = [_o.kpi_settled == false(), _o.created_at >= first, _o.created_at < last]
    if channel:
        conditions.append(_o.channel == channel)
    shipped = _o.kpi_flags.op("&")(SHIPPED)
    promise = case((_o.ship_by.is_(None), NO_PROMISE), (_o.ship_by < now, PROMISE_PASSED), else_=PROMISE_AHEAD)
    by_hour: dict[int, Tally] = defaultdict(Tally)
    hours = DAY if daily else HOUR
    period = _o.kpi_hour // hours if daily else _o.kpi_hour
    groups = await session.execute(
        select(
            period,
            _o.kpi_flags,
            promise,
            func.count(),
            func.sum(_o.kpi_units_ordered),
            func.sum(func.coalesce(_o.kpi_units_first, 0)),
        )
        .where(*conditions, shipped == 0)
        .group_by(period, _o.kpi_flags, promise)
    )
    for p, flags, stands, n, ordered, first_units in groups:
        hour = p * hours
        facts = grouped_facts(flags, stands, int(ordered or 0), int(first_units or 0), hour_start(hour), now)
        add_order(by_hour[hour], facts, now, times=n, warning=False)
    for order in await _orders(session, *conditions, shipped != 0):
        add_order(by_hour[_hours(order.received_at)], order, now, warning=False)
    return [(hour_start(hour), tally) for hour, tally in sorted(by_hour.items())]


async def _orders(session: AsyncSession, *conditions: Any) -> list[OrderFacts]:
    return [order_facts(*row) for row in await session.execute(select(*MARKS).where(*conditions))]


async def _open_exceptions(session: AsyncSession, first: datetime, last: datetime, channel: str | None) -> Tallies:
    """Exceptions raised in [first, last) still open: counted by kind, the acknowledged ones one by one."""
    e = OrderExceptionRow
    conditions: list[Any] = [e.resolved_at.is_(None), e.raised_at >= first, e.raised_at < last]
    if channel:
        conditions.append(e.order_id.startswith(f"{channel}-", autoescape=True))
    tally = Tally()
    for kind, n in await session.execute(
        select(e.kind, func.count()).where(*conditions, e.acknowledged_at.is_(None)).group_by(e.kind)
    ):
        add_exception(tally, ExceptionFacts(kind, first, None, None), times=n)
    for kind, raised_at, acknowledged_at in await session.execute(
        select(e.kind, e.raised_at, e.acknowledged_at).where(*conditions, e.acknowledged_at.is_not(None))
    ):
        add_exception(tally, ExceptionFacts(kind, raised_at, acknowledged_at, None))
    return [(first, tally)]


async def _edge(session: AsyncSession, start: datetime, end: datetime, channel: str | None, now: datetime) -> Tallies:
    """Part of an hour: its orders from their marks, the rest from the read model (store/kpis.py)."""
    conditions: list[Any] = [_o.created_at >= start, _o.created_at < end]
    if channel:
        conditions.append(_o.channel == channel)
    events = await kpis.window_events(session, kpis.KpiFilter(start, end, channel))
    return tallies_of(Facts(await _orders(session, *conditions), *events), now)
