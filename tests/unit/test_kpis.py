"""Every KPI on a hand-built set of orders whose answers are worked out by hand (docs/kpis.md)."""

from datetime import UTC, datetime, timedelta

import pytest

from domain.kpis import (
    Action,
    ExceptionFacts,
    Facts,
    OrderFacts,
    buckets,
    compute,
    error_kind_of_cancel,
    percentile,
    series,
    touch_reason,
)

T0 = datetime(2026, 3, 2, tzinfo=UTC)
NOW = T0 + timedelta(days=8)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


ORDERS = [
    # A: shipped in 10 h, on time, delivered after 30 h; nobody touched it.
    OrderFacts("web-A", "web", h(0), "delivered", ship_by=h(24), shipped_at=h(10), delivered_at=h(30),
               units_ordered=3, units_first_allocation=3),
    # B: address rejected, a person fixed it; shipped 30 h after receipt, 6 h late; warned 24 h ahead.
    OrderFacts("web-B", "web", h(1), "completed", ship_by=h(25), shipped_at=h(31),
               touches=frozenset({"exception_resolved"}), errors=frozenset({"address_rejected"}),
               units_ordered=2, units_first_allocation=2, first_warning_at=h(1)),
    # C: backordered entirely at first allocation, cancelled by a person: a touch, not an error.
    OrderFacts("b2b-C", "b2b", h(2), "cancelled", ship_by=h(26), touches=frozenset({"cancelled"}),
               units_ordered=5, units_first_allocation=0),
    # D: a step failed for good; never shipped, its ship-by passed: a breach warned 72 h ahead.
    OrderFacts("b2b-D", "b2b", h(3), "needs_attention", ship_by=h(75), errors=frozenset({"step_failed"}),
               units_ordered=4, units_first_allocation=2, first_warning_at=h(3)),
    # E: still picking, ship-by ahead of now: pending, neither on time nor late.
    OrderFacts("web-E", "web", h(4), "picking", ship_by=NOW + timedelta(days=1),
               units_ordered=1, units_first_allocation=1),
    # F: cancelled by the system before allocation, no promise: an error, out of fill and on-time rates.
    OrderFacts("web-F", "web", h(5), "cancelled", errors=frozenset({"system_cancelled"}), units_ordered=2),
    # G: approved and held by people, shipped in 20 h, on time.
    OrderFacts("web-G", "web", h(6), "completed", ship_by=h(30), shipped_at=h(26),
               touches=frozenset({"approval", "hold"}), units_ordered=10, units_first_allocation=10),
]  # fmt: skip

EXCEPTIONS = [
    ExceptionFacts("address_rejected", h(2), first_human_action_at=h(3), resolved_at=h(4)),
    ExceptionFacts("address_rejected", h(5), first_human_action_at=h(5.5), resolved_at=None),
    ExceptionFacts("step_failed", h(6), first_human_action_at=None, resolved_at=h(6.25)),  # cleared by itself
]

DAY1, DAY2, DAY3 = T0, T0 + timedelta(days=1), T0 + timedelta(days=2)
COMPLETIONS = [
    DAY1 + timedelta(hours=10),
    DAY1 + timedelta(hours=20),
    DAY1 + timedelta(hours=23, minutes=59),
    DAY2 + timedelta(hours=9),
    DAY3 + timedelta(hours=12),  # nobody acted on day 3
]
ACTIONS = [
    Action(DAY1 + timedelta(hours=8), "key:ann"),
    Action(DAY1 + timedelta(hours=9), "key:bob"),
    Action(DAY1 + timedelta(hours=15), "key:ann"),
    Action(DAY1 + timedelta(hours=16), "warehouse:main"),  # not a person
    Action(DAY1 + timedelta(hours=17), "system"),
    Action(DAY2 + timedelta(hours=8), "key:ann"),
    Action(DAY3 + timedelta(hours=8), "partner:wms"),
]

FACTS = Facts(ORDERS, EXCEPTIONS, COMPLETIONS, ACTIONS)


def test_cycle_time_percentiles_over_shipped_and_delivered_orders() -> None:
    kpis = compute(FACTS, NOW)
    assert kpis.orders == 7
    # received → shipped: A 10 h, G 20 h, B 30 h; nearest rank p50 is the 2nd, p90 the 3rd.
    assert (kpis.cycle_time.to_shipped.count, kpis.cycle_time.to_shipped.p50, kpis.cycle_time.to_shipped.p90) == (
        3,
        20.0,
        30.0,
    )
    assert (kpis.cycle_time.to_delivered.count, kpis.cycle_time.to_delivered.p50) == (1, 30.0)


def test_manual_intervention_and_touchless_with_reasons() -> None:
    kpis = compute(FACTS, NOW)
    assert (kpis.manual_intervention.numerator, kpis.manual_intervention.denominator) == (3, 7)
    assert kpis.manual_intervention.rate == pytest.approx(3 / 7)
    assert kpis.manual_intervention.breakdown == {"approval": 1, "cancelled": 1, "exception_resolved": 1, "hold": 1}
    assert kpis.touchless.numerator == 4
    assert kpis.touchless.rate == pytest.approx(4 / 7)


def test_error_rate_by_kind() -> None:
    kpis = compute(FACTS, NOW)
    assert (kpis.errors.numerator, kpis.errors.denominator) == (3, 7)
    assert kpis.errors.breakdown == {"address_rejected": 1, "step_failed": 1, "system_cancelled": 1}


def test_on_time_ship_rate_skips_pending_cancelled_and_unpromised_orders() -> None:
    on_time = compute(FACTS, NOW).on_time_ship
    assert (on_time.on_time, on_time.late, on_time.pending, on_time.rate) == (2, 2, 1, 0.5)


def test_fill_rate_counts_units_of_the_first_allocation() -> None:
    fill = compute(FACTS, NOW).fill_rate
    assert (fill.numerator, fill.denominator, fill.rate) == (18, 25, 0.72)


def test_early_warning_lead_and_breaches_warned_48h_ahead() -> None:
    warning = compute(FACTS, NOW).early_warning
    assert (warning.warned, warning.lead_p50, warning.lead_min) == (2, 24.0, 24.0)
    assert (warning.breaches, warning.breaches_warned_48h, warning.share_warned_48h) == (2, 1, 0.5)


def test_exception_response_per_kind() -> None:
    response = compute(FACTS, NOW).exception_response
    address = response["address_rejected"]
    assert (address.count, address.open) == (2, 1)
    assert (address.to_first_action.p50, address.to_first_action.p90) == (0.5, 1.0)
    assert (address.to_resolution.count, address.to_resolution.p50) == (1, 2.0)
    failed = response["step_failed"]
    assert (failed.to_first_action.count, failed.to_first_action.p50) == (0, None)
    assert failed.to_resolution.p50 == 0.25
    every = compute(FACTS, NOW).exception_response_all
    assert every is not None and every.count == address.count + failed.count
    assert (every.to_first_action.count, every.to_first_action.p50) == (2, 0.5)
    assert (every.to_resolution.count, every.to_resolution.p50, every.to_resolution.p90) == (2, 0.25, 2.0)
    assert compute(Facts([]), NOW).exception_response_all is None


def test_orders_per_person_per_day_leaves_out_days_nobody_acted() -> None:
    throughput = compute(FACTS, NOW).throughput
    # Day 1: 3 orders, ann and bob; day 2: 1 order, ann; day 3: 1 order, no person.
    assert (throughput.completed, throughput.person_days, throughput.days_without_people) == (5, 3, 1)
    assert throughput.orders_per_person_per_day == pytest.approx(4 / 3)


def test_no_orders_gives_no_rates_rather_than_zero() -> None:
    kpis = compute(Facts([]), NOW)
    assert kpis.manual_intervention.rate is None
    assert kpis.errors.rate is None
    assert kpis.on_time_ship.rate is None
    assert kpis.cycle_time.to_shipped.p50 is None
    assert kpis.throughput.orders_per_person_per_day is None


def test_what_counts_as_a_touch_and_an_error() -> None:
    assert touch_reason("exception_resolved", "key:ann") == "exception_resolved"
    assert touch_reason("released", "system") is None  # a hold that expired by itself
    assert touch_reason("picked", "key:ann") is None  # a pick confirmation is work, not intervention
    assert touch_reason("cancelled", "key:ann") == "cancelled"
    assert error_kind_of_cancel("key:ann") is None
    assert error_kind_of_cancel("system") == "system_cancelled"


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([4.0], 90) == 4.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 90) == 4.0


def test_short_windows_get_hourly_buckets_long_ones_daily() -> None:
    hourly = buckets(h(0.5), h(48.5))
    assert (len(hourly), hourly[0], hourly[-1]) == (49, h(0), h(48))
    daily = buckets(h(10), h(10 + 72))
    assert daily == [T0, T0 + timedelta(days=1), T0 + timedelta(days=2), T0 + timedelta(days=3)]


def test_series_buckets_orders_completions_and_people() -> None:
    points = series(FACTS, T0, T0 + timedelta(days=3), NOW)
    assert [p.start for p in points] == [DAY1, DAY2, DAY3]
    first = points[0]
    assert (first.orders, first.shipped_p50_hours, first.completed, first.people) == (7, 20.0, 3, 2)
    assert first.error_rate == pytest.approx(3 / 7)
    assert (points[1].orders, points[1].completed, points[1].people) == (0, 1, 1)
    assert points[1].manual_intervention_rate is None
    hourly = series(FACTS, T0, T0 + timedelta(hours=24), NOW)
    assert len(hourly) == 24
    assert (hourly[0].orders, hourly[0].shipped_p50_hours, hourly[0].on_time_ship_rate) == (1, 10.0, 1.0)
