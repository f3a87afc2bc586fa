"""The KPIs of a window, aggregated in SQL from the per-order facts (store/kpi_facts.py).

The orders of a window are those received in it ([start, end)); exceptions count by when they were
raised, completions and people's actions by when they happened. A warehouse filter keeps the orders
with stock reserved in that warehouse; a carrier filter those with a shipment by that carrier.

The formulas are domain/kpis.py's: SQL only counts, sums and finds the value at a nearest rank that
domain.kpis.rank names; every ratio, percentile rank and the throughput are computed by the domain.
"""

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, and_, case, cast, extract, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.kpis import (
    EARLY_WARNING_HOURS,
    ERROR_BITS,
    PERSON_PREFIX,
    TOUCH_BITS,
    CycleTime,
    EarlyWarning,
    ExceptionFacts,
    Kpis,
    Percentiles,
    Point,
    bucket_size,
    buckets,
    exception_response,
    is_person,
    on_time_of,
    rank,
    rate,
    throughput_by_day,
)
from store.kpi_facts import EPOCH, FACTS, epoch_hour
from store.tables import PEOPLE_ONLY, AlertRow, OrderEvent, OrderExceptionRow, OrderRow, Reservation, Shipment


@dataclass(frozen=True)
class KpiFilter:
    start: datetime
    end: datetime
    channel: str | None = None
    warehouse: str | None = None
    carrier: str | None = None


def _order_conditions(f: KpiFilter, order_id: Any, channel: Any) -> list[Any]:
    conditions: list[Any] = []
    if f.channel:
        conditions.append(channel == f.channel)
    if f.warehouse:
        conditions.append(order_id.in_(select(Reservation.order_id).where(Reservation.warehouse == f.warehouse)))
    if f.carrier:
        conditions.append(order_id.in_(select(Shipment.order_id).where(Shipment.carrier == f.carrier)))
    return conditions


def _fact_conditions(f: KpiFilter) -> list[Any]:
    return _order_conditions(f, FACTS.c.order_id, FACTS.c.channel)


def _count(condition: ColumnElement[bool]) -> Any:
    return func.sum(case((condition, 1), else_=0))


def _has(column: Any, bit: int) -> ColumnElement[bool]:
    has: ColumnElement[bool] = column.op("&")(1 << bit) != 0
    return has


async def report(session: AsyncSession, f: KpiFilter, now: datetime) -> tuple[Kpis, list[Point]]:
    """The KPIs of the window and its series (hourly for windows up to 48 h, else daily)."""
    starts = buckets(f.start, f.end)
    per = 24 if bucket_size(f.start, f.end) == timedelta(days=1) else 1
    first = epoch_hour(starts[0]) // per if starts else 0
    c = FACTS.c
    in_window = [c.received_at >= f.start, c.received_at < f.end, *_fact_conditions(f)]
    bucket = (c.received_hour // per).label("bucket")

    late = and_(
        c.ship_by.is_not(None),
        (c.shipped_at > c.ship_by) | (c.shipped_at.is_(None) & (c.status != "cancelled") & (c.ship_by < now)),
    )
    columns: dict[str, Any] = {
        "orders": func.count(),
        "touched": _count(c.touches != 0),
        "errored": _count(c.errors != 0),
        "shipped": func.count(c.shipped_hours),
        "delivered": func.count(c.delivered_hours),
        "on_time": _count(c.ship_by.is_not(None) & c.shipped_at.is_not(None) & (c.shipped_at <= c.ship_by)),
        "late": _count(late),
        "pending": _count(
            c.ship_by.is_not(None) & c.shipped_at.is_(None) & (c.status != "cancelled") & (c.ship_by >= now)
        ),
        "first_units": func.coalesce(func.sum(c.units_first_allocation), 0),
        "allocated_units": func.coalesce(
            func.sum(case((c.units_first_allocation.is_not(None), c.units_ordered), else_=0)), 0
        ),
        "warned": func.count(c.warning_lead_hours),
        "lead_min": func.min(c.warning_lead_hours),
        "breaches_warned": _count(late & (c.warning_lead_hours >= EARLY_WARNING_HOURS)),
    }
    columns |= {f"touch:{name}": _count(_has(c.touches, i)) for i, name in enumerate(TOUCH_BITS)}
    columns |= {f"error:{name}": _count(_has(c.errors, i)) for i, name in enumerate(ERROR_BITS)}
    by_bucket: dict[int, dict[str, Any]] = {}
    for row in await session.execute(
        select(bucket, *(value.label(f"c{i}") for i, value in enumerate(columns.values())))
        .where(*in_window)
        .group_by(bucket)
    ):
        by_bucket[row[0] - first] = dict(zip(columns, row[1:], strict=True))
    total: Counter[str] = Counter()
    for counts in by_bucket.values():
        total.update({k: v for k, v in counts.items() if k != "lead_min"})
    lead_mins = [counts["lead_min"] for counts in by_bucket.values() if counts["lead_min"] is not None]

    shipped_ranks = {rank(q, total["shipped"]) for q in (50, 90)}
    shipped_total = await _at_ranks(session, c.shipped_hours, in_window, shipped_ranks)
    bucket_ranks = {i: rank(50, counts["shipped"]) for i, counts in by_bucket.items() if counts["shipped"]}
    shipped_by_bucket = await _at_ranks(session, c.shipped_hours, in_window, set(bucket_ranks.values()), bucket)
    delivered = await _at_ranks(session, c.delivered_hours, in_window, {rank(q, total["delivered"]) for q in (50, 90)})
    leads = await _at_ranks(session, c.warning_lead_hours, in_window, {rank(50, total["warned"])})

    def at(values: dict[tuple[int, int], float], count: int, q: int) -> float | None:
        return values.get((0, rank(q, count))) if count else None

    def pct(values: dict[tuple[int, int], float], count: int) -> Percentiles:
        return Percentiles(count, at(values, count, 50), at(values, count, 90))

    completed_hours = await _completions(session, f)
    people_hours = await _people(session, f)
    completed_days: Counter[date] = Counter()
    for hour, count in completed_hours.items():
        completed_days[_hour_start(hour).date()] += count
    people_days: dict[date, set[str]] = defaultdict(set)
    for hour, actor in people_hours:
        people_days[_hour_start(hour).date()].add(actor)
    completed_buckets: Counter[int] = Counter()
    for hour, count in completed_hours.items():
        completed_buckets[hour // per - first] += count
    people_buckets: dict[int, set[str]] = defaultdict(set)
    for hour, actor in people_hours:
        people_buckets[hour // per - first].add(actor)

    n, breaches = total["orders"], total["late"]
    kpis = Kpis(
        orders=n,
        cycle_time=CycleTime(pct(shipped_total, total["shipped"]), pct(delivered, total["delivered"])),
        manual_intervention=rate(total["touched"], n, _breakdown(total, "touch:", TOUCH_BITS)),
        touchless=rate(n - total["touched"], n),
        errors=rate(total["errored"], n, _breakdown(total, "error:", ERROR_BITS)),
        on_time_ship=on_time_of(total["on_time"], total["late"], total["pending"]),
        fill_rate=rate(total["first_units"], total["allocated_units"]),
        early_warning=EarlyWarning(
            warned=total["warned"],
            lead_p50=at(leads, total["warned"], 50),
            lead_min=min(lead_mins) if lead_mins else None,
            breaches=breaches,
            breaches_warned_48h=total["breaches_warned"],
            share_warned_48h=total["breaches_warned"] / breaches if breaches else None,
        ),
        exception_response=exception_response(await _exceptions(session, f)),
        throughput=throughput_by_day(completed_days, people_days),
    )
    points = []
    for i, start in enumerate(starts):
        counts = by_bucket.get(i, {})
        orders = counts.get("orders", 0)
        points.append(
            Point(
                start=start,
                orders=orders,
                shipped_p50_hours=shipped_by_bucket.get((i + first, bucket_ranks[i])) if i in bucket_ranks else None,
                manual_intervention_rate=rate(counts.get("touched", 0), orders).rate,
                error_rate=rate(counts.get("errored", 0), orders).rate,
                on_time_ship_rate=on_time_of(counts.get("on_time", 0), counts.get("late", 0), 0).rate,
                completed=completed_buckets.get(i, 0),
                people=len(people_buckets.get(i, ())),
            )
        )
    return kpis, points


def _breakdown(total: Counter[str], prefix: str, names: Sequence[str]) -> dict[str, int]:
    return {name: total[prefix + name] for name in sorted(names) if total[prefix + name]}


async def _at_ranks(
    session: AsyncSession, value: Any, conditions: list[Any], ranks: set[int], partition: Any = None
) -> dict[tuple[int, int], float]:
    """The values at these nearest ranks (ascending, 1-based) among the non-null `value`s, per partition:
    {(partition, rank): value}; the partition is 0 when there is none."""
    if not ranks:
        return {}
    group = partition if partition is not None else literal(0)
    ordered = (
        select(
            group.label("g"),
            value.label("v"),
            func.row_number().over(partition_by=partition, order_by=value).label("rn"),
        )
        .where(value.is_not(None), *conditions)
        .subquery()
    )
    rows = await session.execute(select(ordered.c.g, ordered.c.rn, ordered.c.v).where(ordered.c.rn.in_(sorted(ranks))))
    return {(int(g), int(rn)): float(v) for g, rn, v in rows}


async def _completions(session: AsyncSession, f: KpiFilter) -> dict[int, int]:
    """Orders completed (their first `completed` timeline entry) in the window, per epoch hour."""
    c = FACTS.c
    rows = await session.execute(
        select(c.completed_hour, func.count())
        .where(c.completed_at >= f.start, c.completed_at < f.end, *_fact_conditions(f))
        .group_by(c.completed_hour)
    )
    return {int(hour): int(count) for hour, count in rows}


async def _people(session: AsyncSession, f: KpiFilter) -> list[tuple[int, str]]:
    """(epoch hour, person) for every person who acted on an order in the window."""
    assert PERSON_PREFIX == "key:"  # PEOPLE_ONLY is written out so the partial index applies
    hour = _epoch_hour(session, OrderEvent.occurred_at).label("hour")
    statement: Select[Any] = select(hour, OrderEvent.actor).where(
        OrderEvent.occurred_at >= f.start, OrderEvent.occurred_at < f.end, text(f"order_events.{PEOPLE_ONLY}")
    )
    if conditions := _order_conditions(f, OrderEvent.order_id, OrderRow.channel):
        statement = statement.join(OrderRow, OrderRow.order_id == OrderEvent.order_id).where(*conditions)
    rows = await session.execute(statement.group_by(hour, OrderEvent.actor))
    return [(int(h), actor) for h, actor in rows if is_person(actor)]


def _epoch_hour(session: AsyncSession, column: Any) -> Any:
    if session.get_bind().dialect.name == "sqlite":
        return cast(func.strftime("%s", column), Integer) // 3600
    return cast(func.floor(extract("epoch", column) / 3600), Integer)


def _hour_start(hour: int) -> datetime:
    return EPOCH + timedelta(hours=hour)


async def _exceptions(session: AsyncSession, f: KpiFilter) -> list[ExceptionFacts]:
    acknowledged = (
        select(AlertRow.exception_id, func.min(AlertRow.acknowledged_at).label("at"))
        .where(AlertRow.exception_id.is_not(None), AlertRow.acknowledged_by.startswith(PERSON_PREFIX))
        .group_by(AlertRow.exception_id)
        .subquery()
    )
    statement = (
        select(
            OrderExceptionRow.kind,
            OrderExceptionRow.raised_at,
            OrderExceptionRow.resolved_at,
            OrderExceptionRow.resolved_by,
            acknowledged.c.at,
        )
        .outerjoin(acknowledged, acknowledged.c.exception_id == OrderExceptionRow.exception_id)
        .where(OrderExceptionRow.raised_at >= f.start, OrderExceptionRow.raised_at < f.end)
    )
    if conditions := _order_conditions(f, OrderExceptionRow.order_id, OrderRow.channel):
        statement = statement.join(OrderRow, OrderRow.order_id == OrderExceptionRow.order_id).where(*conditions)
    result = []
    for kind, raised_at, resolved_at, resolved_by, acknowledged_at in await session.execute(statement):
        human = [t for t in (acknowledged_at, resolved_at if is_person(resolved_by) else None) if t]
        result.append(
            ExceptionFacts(
                kind=kind,
                raised_at=raised_at,
                first_human_action_at=min(human) if human else None,
                resolved_at=resolved_at,
            )
        )
    return result
