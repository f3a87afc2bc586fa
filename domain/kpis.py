"""KPIs: the figures an operations lead is judged by, as formulas over plain facts about orders.

The store reads the facts out of the read model (store/kpis.py); everything here is arithmetic, so the
definitions (docs/kpis.md) can be checked against hand-built orders. Times are hours; a percentile is
the nearest-rank one (the smallest value with at least q % of the values at or below it), so it is
always a value that occurred.
"""

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from domain.return_kpis import ReturnFacts, ReturnRate, Shipped, return_rate

# Timeline events that are a person intervening, by the reason reported. A person is an actor
# `key:<name>`; pick confirmations ("picked") are warehouse work, not intervention.
TOUCH_REASONS: dict[str, str] = {
    "exception_resolved": "exception_resolved",
    "approved": "approval",
    "rejected": "approval",
    "held": "hold",
    "released": "hold",
    "address_changed": "address_changed",
    "cancelled": "cancelled",
}
# Exception kinds that are an error outcome for the order; a cancellation by anyone but a person is one too.
ERROR_KINDS = frozenset({"address_rejected", "delivery_failed", "order_invalid", "step_failed"})
SYSTEM_CANCELLED = "system_cancelled"
PERSON_PREFIX = "key:"
EARLY_WARNING_HOURS = 48
# Windows up to this long get an hourly series; longer ones a daily one.
HOURLY_UP_TO = timedelta(hours=48)


def is_person(actor: str | None) -> bool:
    return actor is not None and actor.startswith(PERSON_PREFIX)


def touch_reason(event: str, actor: str) -> str | None:
    """Why a timeline entry counts as a person touching the order, or None when it does not."""
    return TOUCH_REASONS.get(event) if is_person(actor) else None


def error_kind_of_cancel(actor: str) -> str | None:
    return None if is_person(actor) else SYSTEM_CANCELLED


@dataclass(frozen=True)
class OrderFacts:
    """What the KPIs need to know about one order."""

    order_id: str
    channel: str
    received_at: datetime
    status: str
    ship_by: datetime | None = None
    shipped_at: datetime | None = None  # the last shipment left; only for a fully shipped order
    delivered_at: datetime | None = None  # the last shipment was delivered; only for a delivered order
    touches: frozenset[str] = frozenset()  # touch reasons
    errors: frozenset[str] = frozenset()  # error kinds
    units_ordered: int = 0
    units_first_allocation: int | None = None  # None: the order never reached allocation
    first_warning_at: datetime | None = None  # the first sla_at_risk alert


@dataclass(frozen=True)
class ExceptionFacts:
    kind: str
    raised_at: datetime
    first_human_action_at: datetime | None  # resolved or acknowledged by a person, whichever came first
    resolved_at: datetime | None


def first_human_action(
    resolved_at: datetime | None, resolved_by: str | None, acknowledged_at: datetime | None
) -> datetime | None:
    """A person's resolution, or a person's acknowledgement of one of the exception's alerts at or before
    its resolution (`acknowledged_at`: the first by a person), whichever came first."""
    human = [resolved_at] if resolved_at is not None and is_person(resolved_by) else []
    if acknowledged_at is not None and (resolved_at is None or acknowledged_at <= resolved_at):
        human.append(acknowledged_at)
    return min(human) if human else None


@dataclass(frozen=True)
class Action:
    """A person (or the system) acting on an order, and orders completing: for orders per person."""

    at: datetime
    actor: str


@dataclass(frozen=True)
class Facts:
    orders: Sequence[OrderFacts]
    exceptions: Sequence[ExceptionFacts] = ()
    completions: Sequence[datetime] = ()  # when orders completed (the "completed" timeline entry)
    actions: Sequence[Action] = ()  # timeline entries by people
    shipped: Shipped = field(default_factory=Shipped)  # for the return rate
    returns: Sequence[ReturnFacts] = ()


@dataclass(frozen=True)
class Percentiles:
    count: int
    p50: float | None
    p90: float | None


@dataclass(frozen=True)
class Rate:
    numerator: int
    denominator: int
    rate: float | None
    breakdown: dict[str, int] = field(default_factory=dict)  # orders per reason or kind


@dataclass(frozen=True)
class CycleTime:
    to_shipped: Percentiles
    to_delivered: Percentiles


@dataclass(frozen=True)
class ExceptionResponse:
    count: int
    open: int
    to_first_action: Percentiles
    to_resolution: Percentiles


@dataclass(frozen=True)
class OnTime:
    on_time: int
    late: int  # shipped after ship_by, or not shipped and ship_by has passed
    pending: int  # not shipped, ship_by still ahead: not counted yet
    rate: float | None


@dataclass(frozen=True)
class EarlyWarning:
    warned: int
    lead_p50: float | None  # hours between the warning and ship_by
    lead_min: float | None
    breaches: int
    breaches_warned_48h: int
    share_warned_48h: float | None


@dataclass(frozen=True)
class Throughput:
    completed: int
    person_days: int  # sum over days of the distinct people who acted that day
    orders_per_person_per_day: float | None
    days_without_people: int  # days with completions and nobody acting: left out of the ratio


@dataclass(frozen=True)
class Kpis:
    orders: int
    cycle_time: CycleTime
    manual_intervention: Rate
    touchless: Rate
    errors: Rate
    on_time_ship: OnTime
    fill_rate: Rate  # units: first-allocation units over ordered units
    early_warning: EarlyWarning
    exception_response: dict[str, ExceptionResponse]
    throughput: Throughput
    exception_response_all: ExceptionResponse | None = None  # every kind together; None: no exceptions
    returns: ReturnRate = field(default_factory=lambda: return_rate(Shipped(), ()))


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest rank: None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def percentiles(values: Sequence[float]) -> Percentiles:
    return Percentiles(len(values), percentile(values, 50), percentile(values, 90))


def hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def _rate(numerator: int, denominator: int, breakdown: dict[str, int] | None = None) -> Rate:
    return Rate(numerator, denominator, numerator / denominator if denominator else None, breakdown or {})


def cycle_time(orders: Iterable[OrderFacts]) -> CycleTime:
    orders = list(orders)
    shipped = [hours(o.shipped_at - o.received_at) for o in orders if o.shipped_at is not None]
    delivered = [hours(o.delivered_at - o.received_at) for o in orders if o.delivered_at is not None]
    return CycleTime(percentiles(shipped), percentiles(delivered))


def _breakdown(sets: Iterable[frozenset[str]]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for names in sets:
        counts.update(names)
    return dict(sorted(counts.items()))


def manual_intervention(orders: Sequence[OrderFacts]) -> Rate:
    touched = [o for o in orders if o.touches]
    return _rate(len(touched), len(orders), _breakdown(o.touches for o in touched))


def touchless(orders: Sequence[OrderFacts]) -> Rate:
    return _rate(sum(1 for o in orders if not o.touches), len(orders))


def error_rate(orders: Sequence[OrderFacts]) -> Rate:
    failed = [o for o in orders if o.errors]
    return _rate(len(failed), len(orders), _breakdown(o.errors for o in failed))


def is_late(order: OrderFacts, now: datetime) -> bool | None:
    """True late, False on time, None not decided yet (or no promise, or cancelled unshipped)."""
    if order.ship_by is None:
        return None
    if order.shipped_at is not None:
        return order.shipped_at > order.ship_by
    if order.status == "cancelled":
        return None
    return True if now > order.ship_by else None


def on_time_ship(orders: Iterable[OrderFacts], now: datetime) -> OnTime:
    on_time = late = pending = 0
    for order in orders:
        if order.ship_by is None or (order.status == "cancelled" and order.shipped_at is None):
            continue
        verdict = is_late(order, now)
        if verdict is None:
            pending += 1
        elif verdict:
            late += 1
        else:
            on_time += 1
    decided = on_time + late
    return OnTime(on_time, late, pending, on_time / decided if decided else None)


def fill_rate(orders: Iterable[OrderFacts]) -> Rate:
    allocated = [o for o in orders if o.units_first_allocation is not None]
    first = sum(o.units_first_allocation or 0 for o in allocated)
    return _rate(first, sum(o.units_ordered for o in allocated))


def early_warning(orders: Iterable[OrderFacts], now: datetime) -> EarlyWarning:
    orders = list(orders)
    leads = [
        hours(o.ship_by - o.first_warning_at)
        for o in orders
        if o.first_warning_at is not None and o.ship_by is not None
    ]
    breaches = [o for o in orders if is_late(o, now)]
    ahead = timedelta(hours=EARLY_WARNING_HOURS)
    warned = [
        o
        for o in breaches
        if o.first_warning_at is not None and o.ship_by is not None and o.ship_by - o.first_warning_at >= ahead
    ]
    return EarlyWarning(
        warned=len(leads),
        lead_p50=percentile(leads, 50),
        lead_min=min(leads) if leads else None,
        breaches=len(breaches),
        breaches_warned_48h=len(warned),
        share_warned_48h=len(warned) / len(breaches) if breaches else None,
    )


def exception_response(exceptions: Iterable[ExceptionFacts]) -> dict[str, ExceptionResponse]:
    by_kind: dict[str, list[ExceptionFacts]] = defaultdict(list)
    for exception in exceptions:
        by_kind[exception.kind].append(exception)
    return {
        kind: ExceptionResponse(
            count=len(group),
            open=sum(1 for e in group if e.resolved_at is None),
            to_first_action=percentiles(
                [hours(e.first_human_action_at - e.raised_at) for e in group if e.first_human_action_at is not None]
            ),
            to_resolution=percentiles([hours(e.resolved_at - e.raised_at) for e in group if e.resolved_at is not None]),
        )
        for kind, group in sorted(by_kind.items())
    }


def throughput(completions: Iterable[datetime], actions: Iterable[Action]) -> Throughput:
    """Orders completed per day over the distinct people who acted that day, summed over the days (UTC)."""
    completed: Counter[date] = Counter(at.astimezone(UTC).date() for at in completions)
    people: dict[date, set[str]] = defaultdict(set)
    for action in actions:
        if is_person(action.actor):
            people[action.at.astimezone(UTC).date()].add(action.actor)
    staffed = [day for day in completed if people.get(day)]
    person_days = sum(len(people[day]) for day in staffed)
    counted = sum(completed[day] for day in staffed)
    return Throughput(
        completed=sum(completed.values()),
        person_days=person_days,
        orders_per_person_per_day=counted / person_days if person_days else None,
        days_without_people=len(completed) - len(staffed),
    )


def compute(facts: Facts, now: datetime) -> Kpis:
    orders = list(facts.orders)
    return Kpis(
        orders=len(orders),
        cycle_time=cycle_time(orders),
        manual_intervention=manual_intervention(orders),
        touchless=touchless(orders),
        errors=error_rate(orders),
        on_time_ship=on_time_ship(orders, now),
        fill_rate=fill_rate(orders),
        early_warning=early_warning(orders, now),
        exception_response=exception_response(facts.exceptions),
        exception_response_all=exception_response(replace(e, kind="*") for e in facts.exceptions).get("*"),
        throughput=throughput(facts.completions, facts.actions),
        returns=return_rate(facts.shipped, facts.returns),
    )


def bucket_size(start: datetime, end: datetime) -> timedelta:
    return timedelta(hours=1) if end - start <= HOURLY_UP_TO else timedelta(days=1)


def buckets(start: datetime, end: datetime) -> list[datetime]:
    """Bucket starts covering [start, end): whole UTC hours or days, the first one holding `start`."""
    size = bucket_size(start, end)
    first = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if size == timedelta(days=1):
        first = first.replace(hour=0)
    starts = []
    at = first
    while at < end:
        starts.append(at)
        at += size
    return starts


@dataclass(frozen=True)
class Point:
    start: datetime
    orders: int
    shipped_p50_hours: float | None
    manual_intervention_rate: float | None
    error_rate: float | None
    on_time_ship_rate: float | None
    completed: int
    people: int


def series(facts: Facts, start: datetime, end: datetime, now: datetime) -> list[Point]:
    """Per bucket: the orders received in it, and the completions and people acting in it."""
    starts = buckets(start, end)
    if not starts:
        return []
    size = bucket_size(start, end)
    first = starts[0]

    def index(at: datetime) -> int | None:
        i = int((at - first) / size)
        return i if 0 <= i < len(starts) else None

    orders: list[list[OrderFacts]] = [[] for _ in starts]
    for order in facts.orders:
        if (i := index(order.received_at)) is not None:
            orders[i].append(order)
    completed = [0] * len(starts)
    for at in facts.completions:
        if (i := index(at)) is not None:
            completed[i] += 1
    people: list[set[str]] = [set() for _ in starts]
    for action in facts.actions:
        if is_person(action.actor) and (i := index(action.at)) is not None:
            people[i].add(action.actor)
    return [
        Point(
            start=at,
            orders=len(orders[i]),
            shipped_p50_hours=cycle_time(orders[i]).to_shipped.p50,
            manual_intervention_rate=manual_intervention(orders[i]).rate,
            error_rate=error_rate(orders[i]).rate,
            on_time_ship_rate=on_time_ship(orders[i], now).rate,
            completed=completed[i],
            people=len(people[i]),
        )
        for i, at in enumerate(starts)
    ]
