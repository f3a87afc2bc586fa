"""KPIs from counts: what each order, exception, completion and person adds to an hour's tally, and the
KPIs (domain/kpis.py's figures) back out of the tallies of a window.

The rollup (store/kpi_rollup.py) keeps these counts per hour and channel, so a window's KPIs are a sum
of a few thousand counters instead of a pass over every order. The definitions stay domain/kpis.py's:
every verdict here (touched, error, late, pending, fill, breach, first human action) is its function.
Durations are kept as log-scale bins, BINS_PER_DOUBLING per doubling, each with its count and the sum
of its durations: a percentile read from the bins is the bin that holds the exact nearest-rank value,
reported as the mean of that bin's durations, so it is within BIN_ERROR (4.4 %) of the exact value (or
within a minute, for durations under a minute), and exact when the bin holds one distinct duration.
"""

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from domain.kpis import (
    EARLY_WARNING_HOURS,
    CycleTime,
    EarlyWarning,
    ExceptionFacts,
    ExceptionResponse,
    Facts,
    Kpis,
    OnTime,
    OrderFacts,
    Percentiles,
    Point,
    Rate,
    Throughput,
    hours,
    is_late,
    is_person,
)

BINS_PER_DOUBLING = 16
SMALLEST_HOURS = 1 / 60  # below a minute: bin 0
BIN_ERROR = 2 ** (1 / BINS_PER_DOUBLING) - 1
MS_PER_HOUR = 3_600_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Counters an order adds to the hour it was received in; histograms (bins of hours) under HIST_*.
ORDERS, TOUCHED, ERRORED = "orders", "touched", "errored"
ON_TIME, LATE, PENDING = "on_time", "late", "pending"
FIRST_UNITS, ALLOCATED_UNITS = "first_units", "allocated_units"
WARNED, BREACHES, BREACHES_WARNED = "warned", "breaches", "breaches_warned_48h"
COMPLETED = "completed"  # added to the hour the order completed in
HIST_SHIPPED, HIST_DELIVERED, HIST_LEAD = "h:shipped", "h:delivered", "h:lead"
TOUCH, ERROR, PERSON = "touch:", "error:", "person:"
EXC, EXC_OPEN, EXC_FIRST, EXC_RESOLUTION = "exc:", "exc_open:", "h:exc_first:", "h:exc_resolution:"


def bin_of(value: float) -> int:
    """The bin of a duration in hours; negative durations (a warning after ship-by) mirror positive ones."""
    size = abs(value)
    if size < SMALLEST_HOURS:
        return 0
    magnitude = math.floor(math.log2(size / SMALLEST_HOURS) * BINS_PER_DOUBLING) + 1
    return magnitude if value > 0 else -magnitude


def epoch_hour(at: datetime) -> int:
    """Whole UTC hours since 1970: the rollup's hour."""
    return int((at - EPOCH).total_seconds() // 3600)


def hour_start(hour: int) -> datetime:
    return EPOCH + timedelta(hours=hour)


def _counters() -> defaultdict[str, Counter[int]]:
    return defaultdict(Counter)


@dataclass
class Tally:
    """Counts: `counts` by name; `hists` (how many) and `sums` (their milliseconds) by name then bin;
    `people` who acted (distinct)."""

    counts: Counter[str] = field(default_factory=Counter)
    hists: defaultdict[str, Counter[int]] = field(default_factory=_counters)
    sums: defaultdict[str, Counter[int]] = field(default_factory=_counters)
    people: set[str] = field(default_factory=set)

    def duration(self, name: str, value: float, sign: int = 1) -> None:
        """One duration (hours) into histogram `name`."""
        bin_ = bin_of(value)
        self.hists[name][bin_] += sign
        self.sums[name][bin_] += sign * round(value * MS_PER_HOUR)

    def add(self, name: str, bin_: int, n: int, total: int = 0) -> None:
        """One rollup row: a histogram bin when the name is a histogram's, a person, else a counter."""
        if name.startswith("h:"):
            self.hists[name][bin_] += n
            self.sums[name][bin_] += total
        elif name.startswith(PERSON):
            if n > 0:
                self.people.add(name.removeprefix(PERSON))
        else:
            self.counts[name] += n

    def merge(self, other: "Tally") -> None:
        self.counts.update(other.counts)
        for name, bins in other.hists.items():
            self.hists[name].update(bins)
        for name, bins in other.sums.items():
            self.sums[name].update(bins)
        self.people |= other.people

    def rows(self) -> list[tuple[str, int, int, int]]:
        """(name, bin, n, total) for every count that is not zero: what goes into the rollup."""
        out = [(name, 0, n, 0) for name, n in self.counts.items() if n]
        out += [
            (name, b, n, self.sums[name][b])
            for name, bins in self.hists.items()
            for b, n in bins.items()
            if n or self.sums[name][b]
        ]
        out += [(PERSON + person, 0, 1, 0) for person in sorted(self.people)]
        return out

    def percentiles(self, name: str) -> Percentiles:
        bins = self.hists[name]
        ordered = sorted((b, n) for b, n in bins.items() if n > 0)
        count = sum(n for _, n in ordered)

        def at(q: float) -> float | None:
            if not count:
                return None
            rank, seen = max(1, math.ceil(q / 100 * count)), 0
            for b, n in ordered:
                seen += n
                if seen >= rank:
                    return self.mean(name, b)
            return None  # unreachable: the ranks add up to count

        return Percentiles(count, at(50), at(90))

    def mean(self, name: str, bin_: int) -> float:
        """The mean duration (hours) of a bin: the value it reports."""
        return self.sums[name][bin_] / self.hists[name][bin_] / MS_PER_HOUR

    def least(self, name: str) -> float | None:
        bins = [b for b, n in self.hists[name].items() if n > 0]
        return self.mean(name, min(bins)) if bins else None


def add_order(
    tally: Tally, order: OrderFacts, now: datetime, sign: int = 1, times: int = 1, warning: bool = True
) -> None:
    """What one order adds to the hour it was received in (sign -1 takes it back out). `times`: so many
    orders alike in all but their units, which `order` carries added up (they have no durations).
    `warning`: with the warning's lead time, which the rollup counts when the warning comes (add_warning)."""
    counts = tally.counts
    n = sign * times
    counts[ORDERS] += n
    if order.touches:
        counts[TOUCHED] += n
        for reason in order.touches:
            counts[TOUCH + reason] += n
    if order.errors:
        counts[ERRORED] += n
        for kind in order.errors:
            counts[ERROR + kind] += n
    if order.shipped_at is not None:
        tally.duration(HIST_SHIPPED, hours(order.shipped_at - order.received_at), sign)
    if order.delivered_at is not None:
        tally.duration(HIST_DELIVERED, hours(order.delivered_at - order.received_at), sign)
    late = is_late(order, now)
    if order.ship_by is not None and not (order.status == "cancelled" and order.shipped_at is None):
        counts[PENDING if late is None else LATE if late else ON_TIME] += n
    if order.units_first_allocation is not None:
        counts[FIRST_UNITS] += sign * order.units_first_allocation
        counts[ALLOCATED_UNITS] += sign * order.units_ordered
    lead = lead_of(order)
    if warning:
        add_warning(tally, order, sign)
    if late:
        counts[BREACHES] += n
        if lead is not None and lead >= EARLY_WARNING_HOURS:
            counts[BREACHES_WARNED] += n


def lead_of(order: OrderFacts) -> float | None:
    """Hours from the order's first warning to its ship-by."""
    if order.first_warning_at is None or order.ship_by is None:
        return None
    return hours(order.ship_by - order.first_warning_at)


def add_warning(tally: Tally, order: OrderFacts, sign: int = 1) -> None:
    """What an order's first warning adds to the hour it was received in: its lead time."""
    if (lead := lead_of(order)) is not None:
        tally.counts[WARNED] += sign
        tally.duration(HIST_LEAD, lead, sign)


def add_exception(tally: Tally, exception: ExceptionFacts, sign: int = 1, times: int = 1) -> None:
    """What one exception adds to the hour it was raised in (`times`: so many open ones, never acted on)."""
    kind = exception.kind
    tally.counts[EXC + kind] += sign * times
    if exception.resolved_at is None:
        tally.counts[EXC_OPEN + kind] += sign * times
    else:
        tally.duration(EXC_RESOLUTION + kind, hours(exception.resolved_at - exception.raised_at), sign)
    if exception.first_human_action_at is not None:
        tally.duration(EXC_FIRST + kind, hours(exception.first_human_action_at - exception.raised_at), sign)


def add_action(tally: Tally, actor: str) -> None:
    if is_person(actor):
        tally.people.add(actor)


def _rate(numerator: int, denominator: int, breakdown: dict[str, int] | None = None) -> Rate:
    return Rate(numerator, denominator, numerator / denominator if denominator else None, breakdown or {})


def _named(counts: Counter[str], prefix: str) -> dict[str, int]:
    return {name.removeprefix(prefix): n for name, n in sorted(counts.items()) if name.startswith(prefix) and n}


def tallies_of(facts: Facts, now: datetime) -> list[tuple[datetime, Tally]]:
    """Facts read from the read model, as tallies per hour (as the rollup would hold them)."""
    by_hour: dict[int, Tally] = defaultdict(Tally)
    for order in facts.orders:
        add_order(by_hour[epoch_hour(order.received_at)], order, now)
    for exception in facts.exceptions:
        add_exception(by_hour[epoch_hour(exception.raised_at)], exception)
    for at in facts.completions:
        by_hour[epoch_hour(at)].counts["completed"] += 1
    for action in facts.actions:
        if is_person(action.actor):
            by_hour[epoch_hour(action.at)].people.add(action.actor)
    return [(hour_start(hour), tally) for hour, tally in sorted(by_hour.items())]


def kpis_of(total: Tally, days: Sequence[tuple[date, int, int]]) -> Kpis:
    """The KPIs of a window from its summed tally; `days`: (UTC day, completed, people) for throughput."""
    c = total.counts
    on_time, late = c[ON_TIME], c[LATE]
    lead_p = total.percentiles(HIST_LEAD)
    staffed = [(completed, people) for _, completed, people in days if people and completed]
    person_days = sum(people for _, people in staffed)
    kinds = sorted({name.removeprefix(EXC) for name, n in c.items() if name.startswith(EXC) and n})
    every = Tally()
    for kind in kinds:
        for name in (EXC_FIRST, EXC_RESOLUTION):
            every.hists[name].update(total.hists[name + kind])
            every.sums[name].update(total.sums[name + kind])
    return Kpis(
        orders=c[ORDERS],
        cycle_time=CycleTime(total.percentiles(HIST_SHIPPED), total.percentiles(HIST_DELIVERED)),
        manual_intervention=_rate(c[TOUCHED], c[ORDERS], _named(c, TOUCH)),
        touchless=_rate(c[ORDERS] - c[TOUCHED], c[ORDERS]),
        errors=_rate(c[ERRORED], c[ORDERS], _named(c, ERROR)),
        on_time_ship=OnTime(on_time, late, c[PENDING], on_time / (on_time + late) if on_time + late else None),
        fill_rate=_rate(c[FIRST_UNITS], c[ALLOCATED_UNITS]),
        early_warning=EarlyWarning(
            warned=c[WARNED],
            lead_p50=lead_p.p50,
            lead_min=total.least(HIST_LEAD),
            breaches=c[BREACHES],
            breaches_warned_48h=c[BREACHES_WARNED],
            share_warned_48h=c[BREACHES_WARNED] / c[BREACHES] if c[BREACHES] else None,
        ),
        exception_response={
            kind: ExceptionResponse(
                count=c[EXC + kind],
                open=c[EXC_OPEN + kind],
                to_first_action=total.percentiles(EXC_FIRST + kind),
                to_resolution=total.percentiles(EXC_RESOLUTION + kind),
            )
            for kind in kinds
        },
        exception_response_all=ExceptionResponse(
            count=sum(c[EXC + kind] for kind in kinds),
            open=sum(c[EXC_OPEN + kind] for kind in kinds),
            to_first_action=every.percentiles(EXC_FIRST),
            to_resolution=every.percentiles(EXC_RESOLUTION),
        )
        if kinds
        else None,
        throughput=Throughput(
            completed=sum(completed for _, completed, _ in days),
            person_days=person_days,
            orders_per_person_per_day=sum(n for n, _ in staffed) / person_days if person_days else None,
            days_without_people=sum(1 for _, completed, people in days if completed and not people),
        ),
    )


def point_of(start: datetime, tally: Tally) -> Point:
    c = tally.counts
    decided = c[ON_TIME] + c[LATE]
    return Point(
        start=start,
        orders=c[ORDERS],
        shipped_p50_hours=tally.percentiles(HIST_SHIPPED).p50,
        manual_intervention_rate=c[TOUCHED] / c[ORDERS] if c[ORDERS] else None,
        error_rate=c[ERRORED] / c[ORDERS] if c[ORDERS] else None,
        on_time_ship_rate=c[ON_TIME] / decided if decided else None,
        completed=c[COMPLETED],
        people=len(tally.people),
    )


# What a series point and throughput read from a bucket's tally (point_of, report): the rest only counts
# in the window's figures.
SERIES_COUNTS = (ORDERS, TOUCHED, ERRORED, ON_TIME, LATE, COMPLETED)
SERIES_HISTS = (HIST_SHIPPED,)


def report(
    tallies: Iterable[tuple[datetime, Tally]],
    bucket_starts: Sequence[datetime],
    series_only: Iterable[tuple[datetime, Tally]] = (),
    figures_only: Tally | None = None,
) -> tuple[Kpis, list[Point]]:
    """The KPIs and the series of a window from tallies of its hours (or days), each placed in the series
    bucket that holds its start (the figures count them all, as domain.kpis.compute counts all the facts
    it is given); throughput counts people per UTC day across the hours of a day. `series_only` tallies
    (SERIES_COUNTS, SERIES_HISTS and people) go into the series and throughput only, `figures_only` into
    the figures only: the same counts summed two ways."""
    size = bucket_starts[1] - bucket_starts[0] if len(bucket_starts) > 1 else timedelta(hours=1)
    by_bucket = {start: Tally() for start in bucket_starts}
    per_day: dict[date, Tally] = defaultdict(Tally)
    total = Tally()
    for start, tally, figures in [(start, t, True) for start, t in tallies] + [
        (start, t, False) for start, t in series_only
    ]:
        index = (start - bucket_starts[0]) // size if bucket_starts else -1
        if 0 <= index < len(bucket_starts):
            by_bucket[bucket_starts[index]].merge(tally)
        day = per_day[start.astimezone(UTC).date()]
        day.counts[COMPLETED] += tally.counts[COMPLETED]
        day.people |= tally.people
        if figures:
            total.merge(tally)
    if figures_only is not None:
        total.merge(figures_only)
    days = [(day, t.counts[COMPLETED], len(t.people)) for day, t in sorted(per_day.items())]
    return kpis_of(total, days), [point_of(start, by_bucket[start]) for start in bucket_starts]
