"""The KPIs from hourly tallies (the rollup's way) equal the exact ones on the hand-built orders of
test_kpis.py: counts and rates exactly, durations within the bins' stated precision."""

import math
from dataclasses import fields, is_dataclass
from datetime import timedelta
from typing import Any

from domain.kpi_tally import BIN_ERROR, SMALLEST_HOURS, Tally, bin_of, report, tallies_of
from domain.kpis import OrderFacts, buckets, compute, series
from tests.unit.test_kpis import FACTS, NOW, T0, h


def assert_close(tallied: Any, exact: Any, where: str = "") -> None:
    """Equal, except that hours may differ by the bins' precision."""
    if is_dataclass(tallied):
        for f in fields(tallied):
            assert_close(getattr(tallied, f.name), getattr(exact, f.name), f"{where}.{f.name}")
    elif isinstance(tallied, dict):
        assert tallied.keys() == exact.keys(), where
        for key in tallied:
            assert_close(tallied[key], exact[key], f"{where}[{key}]")
    elif isinstance(tallied, list):
        assert len(tallied) == len(exact), where
        for i, (a, b) in enumerate(zip(tallied, exact, strict=True)):
            assert_close(a, b, f"{where}[{i}]")
    elif isinstance(tallied, float) and isinstance(exact, float) and not isinstance(tallied, bool):
        assert math.isclose(tallied, exact, rel_tol=BIN_ERROR, abs_tol=SMALLEST_HOURS), (where, tallied, exact)
    else:
        assert tallied == exact, (where, tallied, exact)


def test_tallies_give_the_exact_kpis_within_the_bins() -> None:
    start, end = T0, T0 + timedelta(days=3)
    kpis, points = report(tallies_of(FACTS, NOW), buckets(start, end))
    assert_close(kpis, compute(FACTS, NOW))
    assert_close(points, series(FACTS, start, end, NOW))


def test_hourly_series_for_a_short_window() -> None:
    start, end = T0, T0 + timedelta(hours=12)
    orders = [o for o in FACTS.orders if start <= o.received_at < end]
    facts = type(FACTS)(orders, FACTS.exceptions, [c for c in FACTS.completions if c < end], FACTS.actions)
    _, points = report(tallies_of(facts, NOW), buckets(start, end))
    assert [p.orders for p in points][:8] == [1, 1, 1, 1, 1, 1, 1, 0]
    assert_close(points, series(facts, start, end, NOW))


def test_a_percentile_is_within_the_stated_precision_of_the_exact_one() -> None:
    # 200 orders shipped between a minute and four days: many share a bin.
    orders = [
        OrderFacts(f"web-{i}", "web", h(0), "completed", shipped_at=h(0) + timedelta(minutes=1 + i**2.3))
        for i in range(200)
    ]
    exact = compute(type(FACTS)(orders), NOW).cycle_time.to_shipped
    tally = Tally()
    for _, t in tallies_of(type(FACTS)(orders), NOW):
        tally.merge(t)
    tallied = tally.percentiles("h:shipped")
    assert tallied.count == exact.count == 200
    assert exact.p50 is not None and exact.p90 is not None and tallied.p50 is not None and tallied.p90 is not None
    assert abs(tallied.p50 / exact.p50 - 1) < BIN_ERROR and abs(tallied.p90 / exact.p90 - 1) < BIN_ERROR
    assert bin_of(tallied.p50) == bin_of(exact.p50)


def test_bins_keep_order_and_sign() -> None:
    values = [-50.0, -1.0, -0.01, 0.0, 0.001, 0.02, 1.0, 1.04, 72.0, 1000.0]
    assert [bin_of(v) for v in values] == sorted(bin_of(v) for v in values)
    assert bin_of(0.001) == bin_of(0.0) == 0 and bin_of(-1.0) == -bin_of(1.0)
