"""The forecasting methods on demand whose shape is known."""

from datetime import UTC, datetime, timedelta

import numpy as np

from domain.forecast import Method, Pattern, classify, forecast_many
from domain.projection import ArrivingStock, StockPolicy, project, stockout_chance
from domain.transit import Lane, OpenShipment, PastShipment, at_risk, lane_times, p90

NOW = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


def test_the_pattern_follows_how_often_and_how_evenly_demand_comes() -> None:
    rng = np.random.default_rng(1)
    smooth = rng.poisson(20, 90).astype(float)
    intermittent = np.where(rng.random(90) < 0.15, 5.0, 0.0)
    none = np.zeros(90)
    patterns, adi, _ = classify(np.stack([smooth, intermittent, none]))
    assert patterns == [Pattern.SMOOTH, Pattern.INTERMITTENT, Pattern.NONE]
    assert adi[0] < 1.32 < adi[1]


def test_each_pattern_gets_its_method_and_a_backtest() -> None:
    rng = np.random.default_rng(2)
    smooth = rng.poisson(20, 120).astype(float)
    intermittent = np.where(rng.random(120) < 0.15, 1 + rng.poisson(4, 120), 0).astype(float)
    smooth_f, intermittent_f, none_f = forecast_many(np.stack([smooth, intermittent, np.zeros(120)]), 0)
    assert smooth_f.method in (Method.SES, Method.SES_WEEKLY, Method.DAMPED_TREND, Method.DAMPED_TREND_WEEKLY)
    assert intermittent_f.method is Method.SBA and none_f.method is Method.ZERO
    assert abs(np.mean(smooth_f.daily[:7]) - 20) < 3
    assert abs(intermittent_f.daily[0] - 0.15 * 5) < 0.5  # about one demand in 6-7 days, of 5
    assert 2 < smooth_f.mae < 6 and abs(smooth_f.bias) < 3  # Poisson(20) noise is about 3.6 a day
    assert none_f.daily == (0.0,) * 28 and none_f.mae == 0


def test_a_weekly_profile_is_kept_and_a_trend_followed() -> None:
    t = np.arange(112)
    weekly = np.array([5, 10, 10, 10, 10, 30, 5], dtype=float)[t % 7]  # day 0 is a Monday
    trend = 10 + 0.5 * t
    w, tr = forecast_many(np.stack([weekly, trend]), 0)
    assert w.method in (Method.SES_WEEKLY, Method.DAMPED_TREND_WEEKLY)
    assert w.daily[5] > 2 * w.daily[4]  # day 112 is a Monday: its Saturday stands out
    assert tr.method is Method.DAMPED_TREND and tr.daily[0] > 60  # last day was 65.5 and climbing


def test_stock_runs_out_when_forecast_demand_passes_it_unless_inbound_comes_first() -> None:
    daily = np.full((2, 28), 10.0)
    sigma = np.array([1.0, 1.0])
    late = [ArrivingStock(NOW + timedelta(days=8), 100)]
    early = [ArrivingStock(NOW + timedelta(days=2), 100)]
    policy = StockPolicy(lead_time_days=3)
    late_o, early_o = project(NOW, [40, 40], daily, sigma, [late, early], [policy, policy], [False, False])
    assert late_o.stockout_at == NOW + timedelta(hours=96) and late_o.at_risk  # 40 units at 10 a day
    assert early_o.stockout_at == NOW + timedelta(hours=336) and not early_o.at_risk
    assert late_o.reorder_point == 30 + late_o.safety_stock and late_o.suggested_quantity == 0  # 140 in position


def test_a_raised_warning_stays_until_the_expected_stockout_leaves_the_window() -> None:
    daily, sigma = np.full((1, 28), 10.0), np.array([8.0])
    policy = [StockPolicy(lead_time_days=3, warning_hours=48)]
    # Expected to run out in 4.5 days, inside the 5-day window; the sure (low-demand) one is later.
    fresh = project(NOW, [45], daily, sigma, [[]], policy, [False])[0]
    kept = project(NOW, [45], daily, sigma, [[]], policy, [False], [True])[0]
    assert not fresh.at_risk and kept.at_risk


def test_the_chance_of_running_out_counts_lumps_as_they_come() -> None:
    one_in_five_of_ten = np.array([10.0, 0, 0, 0, 0] * 12)
    assert stockout_chance(one_in_five_of_ten, [(1, 5)]) == 0.2
    assert abs(stockout_chance(one_in_five_of_ten, [(3, 5)]) - (1 - 0.8**3)) < 1e-9
    assert stockout_chance(one_in_five_of_ten, [(3, 0)]) == 1.0  # nothing left: out already
    assert abs(stockout_chance(one_in_five_of_ten, [(3, 25)]) - 0.2**3) < 1e-9


def test_a_parcel_slower_than_its_lanes_p90_is_at_risk() -> None:
    fake = Lane("fake-post", "CN")
    booked = NOW - timedelta(days=30)
    # The fake carrier: hand-over 1..10 h after booking, delivery 24..42 h after hand-over.
    history = [
        PastShipment(fake, booked, booked + timedelta(hours=h), booked + timedelta(hours=h + 24 + 2 * h))
        for h in range(1, 11)
    ]
    lanes = lane_times(history)
    assert lanes[fake].handover_p90 == timedelta(hours=9) and lanes[fake].transit_p90 == timedelta(hours=42)
    assert p90([timedelta(hours=1)]) == timedelta(hours=1)
    parcels = [
        OpenShipment("S1", "o1", fake, NOW - timedelta(hours=8), None),  # within 9 h
        OpenShipment("S2", "o2", fake, NOW - timedelta(hours=10), None),  # not handed over after 10 h
        OpenShipment("S3", "o3", fake, NOW - timedelta(hours=50), NOW - timedelta(hours=43)),  # 43 h in transit
        OpenShipment("S4", "o4", fake, NOW - timedelta(hours=50), NOW - timedelta(hours=41)),
        OpenShipment("S5", "o5", Lane("fake-post", "US"), NOW - timedelta(days=9), None),  # no history: no judgment
    ]
    risks = at_risk(parcels, lanes, NOW)
    assert [(r.shipment_id, r.leg) for r in risks] == [("S2", "handover"), ("S3", "transit")]
    assert "usually delivers within 42.0 h" in risks[1].message
