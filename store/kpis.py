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
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, Select, case, cast, extract, func, literal, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from domain.kpis import (
    EARLY_WARNING_HOURS,
    ERROR_BITS,
    PERSON_PREFIX,
    TOUCH_BITS,
    CycleTime,
    EarlyWarning,
    ExceptionResponse,
    Kpis,
    Percentiles,
    Point,
    bucket_size,
    buckets,
    hours,
    is_person,
    on_time_of,
    rank,
    rate,
    throughput_by_day,
)
from store.kpi_facts import EPOCH, FACTS, epoch_hour, received_counters
from store.tables import (
    KPI_ROLLUP,
    PEOPLE_ONLY,
    ROLLUP_COUNTERS,
    AlertRow,
    OrderEvent,
    OrderExceptionRow,
    OrderRow,
    Reservation,
    Shipment,
)


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


def _window_hours(f: KpiFilter) -> tuple[int, int]:
    """The whole hours inside the window, [first, last): the rollup's part of it."""
    first = epoch_hour(f.start) + (0 if f.start == _hour_start(epoch_hour(f.start)) else 1)
    return first, max(first, epoch_hour(f.end))


async def _hourly(session: AsyncSession, f: KpiFilter, per: int) -> dict[int, Counter[str]]:
    """Per bucket (epoch hour // per): the counts of the orders received in it (within the window) and `completed`, the
    orders that completed in it. The rollup answers for whole hours; the parts of an hour at the window's
    edges, and a warehouse or carrier filter (an order can have several), are counted from the facts rows."""
    hourly: dict[int, Counter[str]] = defaultdict(Counter)
    if f.warehouse or f.carrier:
        edges = [(f.start, f.end)]
    else:
        first, last = _window_hours(f)
        edges = [(f.start, _hour_start(first)), (_hour_start(last), f.end)] if first < last else [(f.start, f.end)]
        key = (KPI_ROLLUP.c.hour // per).label("key")
        statement = (
            select(key, *(func.sum(KPI_ROLLUP.c[name]) for name in ROLLUP_COUNTERS))
            .where(KPI_ROLLUP.c.hour >= first, KPI_ROLLUP.c.hour < last)
            .group_by(key)
        )
        if f.channel:
            statement = statement.where(KPI_ROLLUP.c.channel == f.channel)
        for hour, *counts in await session.execute(statement):
            hourly[int(hour)].update({name: int(n) for name, n in zip(ROLLUP_COUNTERS, counts, strict=True) if n})
    c = FACTS.c
    for low, high in edges:
        if low >= high:
            continue
        for row in await session.execute(
            select(FACTS).where(c.received_at >= low, c.received_at < high, *_fact_conditions(f))
        ):
            hourly[row.received_hour // per].update(received_counters(row._asdict()))
        for (hour,) in await session.execute(
            select(c.completed_hour).where(c.completed_at >= low, c.completed_at < high, *_fact_conditions(f))
        ):
            hourly[int(hour) // per]["completed"] += 1
    return hourly


async def _open(session: AsyncSession, f: KpiFilter, now: datetime, per: int) -> dict[int, Counter[str]]:
    """Per bucket received (epoch hour // per): the unshipped, uncancelled orders with a promise, late (ship_by passed)
    or pending, and the late ones warned EARLY_WARNING_HOURS ahead."""
    c = FACTS.c
    late = c.ship_by < now
    key = (c.received_hour // per).label("key")
    statement = (
        select(
            key,
            func.sum(case((late, 1), else_=0)),
            func.sum(case((late, 0), else_=1)),
            func.sum(case((late & (c.warning_lead_hours >= EARLY_WARNING_HOURS), 1), else_=0)),
        )
        .where(
            c.shipped_at.is_(None),
            c.received_at >= f.start,
            c.received_at < f.end,
            c.status != "cancelled",
            c.ship_by.is_not(None),
            *_fact_conditions(f),
        )
        .group_by(key)
    )
    return {
        int(hour): Counter(late_open=int(n_late), pending=int(n_pending), late_open_warned=int(n_warned))
        for hour, n_late, n_pending, n_warned in await session.execute(statement)
    }


Wanted = tuple[str, Any, int, int, list[Any]]  # tag, column, rank, count of the non-null values, conditions


async def _nth(session: AsyncSession, wanted: list[Wanted]) -> dict[str, float]:
    """{tag: the value at a 1-based rank among `count` values}: each by walking the column's index
    (ix_order_kpi_facts_shipped, _delivered, _lead, _hour) from the nearer end, in one statement."""
    if not wanted:
        return {}
    parts = [
        select(literal(tag).label("tag"), column.label("v"))
        .where(column.is_not(None), *conditions)
        .order_by(column if n - 1 <= count - n else column.desc())
        .limit(1)
        .offset(min(n - 1, count - n))
        .subquery()
        for tag, column, n, count, conditions in wanted
    ]
    union = union_all(*(select(part.c.tag, part.c.v) for part in parts))
    return {tag: float(v) for tag, v in await session.execute(union)}


async def report(session: AsyncSession, f: KpiFilter, now: datetime) -> tuple[Kpis, list[Point]]:
    """The KPIs of the window and its series (hourly for windows up to 48 h, else daily)."""
    starts = buckets(f.start, f.end)
    per = 24 if bucket_size(f.start, f.end) == timedelta(days=1) else 1
    first = epoch_hour(starts[0]) // per
    hourly = await _hourly(session, f, per)
    for hour, counts in (await _open(session, f, now, per)).items():
        hourly[hour].update(counts)
    total: Counter[str] = Counter()
    by_bucket: dict[int, Counter[str]] = defaultdict(Counter)
    for hour, counts in hourly.items():
        total.update(counts)
        by_bucket[hour - first].update(counts)

    c = FACTS.c
    # The walks must follow a value index. SQLite would take received_at's own index instead unless the
    # column is wrapped; PostgreSQL, wrapped, misjudges the share of rows and sorts.
    sqlite = session.get_bind().dialect.name == "sqlite"
    received_at = func.coalesce(c.received_at, c.received_at) if sqlite else c.received_at
    in_window = [received_at >= f.start, received_at < f.end, *_fact_conditions(f)]
    wanted: list[Wanted] = []
    for name, column, quantiles in (
        ("shipped", c.shipped_hours, (50, 90)),
        ("delivered", c.delivered_hours, (50, 90)),
        ("warned", c.warning_lead_hours, (50,)),
    ):
        if total[name]:
            wanted += [(f"{name}:{q}", column, rank(q, total[name]), total[name], in_window) for q in quantiles]
    if total["warned"]:
        wanted.append(("warned:min", c.warning_lead_hours, 1, total["warned"], in_window))
    for i, counts in by_bucket.items():
        if counts["shipped"] and 0 <= i < len(starts):
            hours = [c.received_hour >= (first + i) * per, c.received_hour < (first + i + 1) * per]
            wanted.append(
                (
                    f"bucket:{i}",
                    c.shipped_hours,
                    rank(50, counts["shipped"]),
                    counts["shipped"],
                    hours + in_window,
                )
            )
    nth = await _nth(session, wanted)

    def pct(name: str) -> Percentiles:
        return Percentiles(total[name], nth.get(f"{name}:50"), nth.get(f"{name}:90"))

    completed_days: Counter[date] = Counter()
    for hour, counts in hourly.items():
        if counts["completed"]:
            completed_days[_hour_start(hour * per).date()] += counts["completed"]
    people_hours = await _people(session, f, per)
    people_days: dict[date, set[str]] = defaultdict(set)
    people_buckets: dict[int, set[str]] = defaultdict(set)
    for hour, actor in people_hours:
        people_days[_hour_start(hour * per).date()].add(actor)
        people_buckets[hour - first].add(actor)

    n = total["orders"]
    late = total["late_shipped"] + total["late_open"]
    warned_late = total["late_shipped_warned"] + total["late_open_warned"]
    kpis = Kpis(
        orders=n,
        cycle_time=CycleTime(pct("shipped"), pct("delivered")),
        manual_intervention=rate(total["touched"], n, _breakdown(total, "touch_", TOUCH_BITS)),
        touchless=rate(n - total["touched"], n),
        errors=rate(total["errored"], n, _breakdown(total, "error_", ERROR_BITS)),
        on_time_ship=on_time_of(total["on_time"], late, total["pending"]),
        fill_rate=rate(total["first_units"], total["allocated_units"]),
        early_warning=EarlyWarning(
            warned=total["warned"],
            lead_p50=nth.get("warned:50"),
            lead_min=nth.get("warned:min"),
            breaches=late,
            breaches_warned_48h=warned_late,
            share_warned_48h=warned_late / late if late else None,
        ),
        exception_response=await _exception_response(session, f),
        throughput=throughput_by_day(completed_days, people_days),
    )
    points = []
    for i, start in enumerate(starts):
        counts = by_bucket.get(i, Counter())
        points.append(
            Point(
                start=start,
                orders=counts["orders"],
                shipped_p50_hours=nth.get(f"bucket:{i}"),
                manual_intervention_rate=rate(counts["touched"], counts["orders"]).rate,
                error_rate=rate(counts["errored"], counts["orders"]).rate,
                on_time_ship_rate=on_time_of(counts["on_time"], counts["late_shipped"] + counts["late_open"], 0).rate,
                completed=counts["completed"],
                people=len(people_buckets.get(i, ())),
            )
        )
    return kpis, points


def _breakdown(total: Counter[str], prefix: str, names: Sequence[str]) -> dict[str, int]:
    return {name: total[prefix + name] for name in sorted(names) if total[prefix + name]}


async def _people(session: AsyncSession, f: KpiFilter, per: int) -> list[tuple[int, str]]:
    """(epoch hour // per, person) for every person who acted on an order in the window."""
    assert PERSON_PREFIX == "key:"  # PEOPLE_ONLY is written out so the partial index applies
    hour = (_epoch_hour(session, OrderEvent.occurred_at) // per).label("hour")
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


def _span(session: AsyncSession, start: Any, end: Any) -> Any:
    """Something that orders like end - start (only for ordering: the hours come from domain.kpis.hours)."""
    if session.get_bind().dialect.name == "sqlite":
        return func.julianday(end) - func.julianday(start)
    return end - start


async def _exception_response(session: AsyncSession, f: KpiFilter) -> dict[str, ExceptionResponse]:
    """Per kind, the exceptions raised in the window (domain.kpis.exception_response, counted in SQL):
    the first human action is an acknowledgement of one of its alerts or a resolution, by a person."""
    x = OrderExceptionRow
    acknowledged = (
        select(AlertRow.exception_id, func.min(AlertRow.acknowledged_at).label("at"))
        .where(AlertRow.exception_id.is_not(None), AlertRow.acknowledged_by.startswith(PERSON_PREFIX))
        .group_by(AlertRow.exception_id)
        .subquery()
    )
    by_person = case((x.resolved_by.startswith(PERSON_PREFIX), x.resolved_at), else_=None)
    ack = acknowledged.c.at
    statement = (
        select(
            x.kind,
            x.raised_at,
            x.resolved_at,
            case((ack.is_(None), by_person), (by_person.is_(None), ack), (ack < by_person, ack), else_=by_person).label(
                "acted_at"
            ),
        )
        .outerjoin(acknowledged, acknowledged.c.exception_id == x.exception_id)
        .where(x.raised_at >= f.start, x.raised_at < f.end)
    )
    if conditions := _order_conditions(f, x.order_id, OrderRow.channel):
        statement = statement.join(OrderRow, OrderRow.order_id == x.order_id).where(*conditions)
    listed = statement.subquery()
    counts = {
        kind: (int(n), int(resolved), int(acted))
        for kind, n, resolved, acted in await session.execute(
            select(
                listed.c.kind, func.count(), func.count(listed.c.resolved_at), func.count(listed.c.acted_at)
            ).group_by(listed.c.kind)
        )
    }
    # Both rankings in one statement over the exceptions read once (a CTE used twice is materialized).
    facts = statement.cte("exception_facts")
    parts = []
    for name, end, index in (("acted", facts.c.acted_at, 2), ("resolved", facts.c.resolved_at, 1)):
        ranks = {rank(q, known[index]) for known in counts.values() if known[index] for q in (50, 90)}
        ordered = (
            select(
                literal(name).label("name"),
                facts.c.kind,
                facts.c.raised_at,
                end.label("end"),
                func.row_number()
                .over(partition_by=facts.c.kind, order_by=_span(session, facts.c.raised_at, end))
                .label("rn"),
            )
            .where(end.is_not(None))
            .subquery()
        )
        if ranks:
            parts.append(select(ordered).where(ordered.c.rn.in_(sorted(ranks))))
    spans: dict[str, dict[tuple[str, int], float]] = {"acted": {}, "resolved": {}}
    if parts:
        for name, kind, raised, ended, rn in await session.execute(union_all(*parts)):
            spans[name][(kind, int(rn))] = hours(_utc(ended) - _utc(raised))

    def pct(name: str, kind: str, count: int) -> Percentiles:
        values = spans[name]
        return Percentiles(count, *(values.get((kind, rank(q, count))) if count else None for q in (50, 90)))

    return {
        kind: ExceptionResponse(
            count=n,
            open=n - resolved,
            to_first_action=pct("acted", kind, acted),
            to_resolution=pct("resolved", kind, resolved),
        )
        for kind, (n, resolved, acted) in sorted(counts.items())
    }


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
