"""The dashboard's KPI tiles: each window's figure and each day of the trend are what domain/kpis.py
computes for that window (here from hand-built facts, as GET /v1/kpis computes them)."""

from datetime import UTC, datetime, timedelta

from api.console.kpis import DAYS, TILES, KpiTile, board
from domain.kpis import Action, ExceptionFacts, Facts, OrderFacts, compute, series

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


def order(n: int, age: timedelta, touched: bool = False) -> OrderFacts:
    return OrderFacts(
        order_id=f"web-{n}",
        channel="web",
        received_at=NOW - age,
        status="completed",
        touches=frozenset({"resolved_exception"}) if touched else frozenset(),
    )


FACTS = Facts(
    orders=[
        order(1, timedelta(hours=1), touched=True),
        order(2, timedelta(hours=2)),
        order(3, timedelta(days=5), touched=True),
        order(4, timedelta(days=20)),
    ],
    exceptions=[
        ExceptionFacts("address_rejected", NOW - timedelta(hours=3), NOW - timedelta(hours=1), NOW),
        ExceptionFacts("step_failed", NOW - timedelta(days=6), NOW - timedelta(days=6) + timedelta(hours=4), None),
    ],
    completions=[NOW - timedelta(minutes=30), NOW - timedelta(days=5)],
    actions=[Action(NOW - timedelta(hours=1), "key:carol"), Action(NOW - timedelta(days=5), "key:dan")],
)


MIDNIGHT = NOW.replace(hour=0)


def within(start: datetime) -> Facts:
    return Facts(
        orders=[o for o in FACTS.orders if start <= o.received_at < NOW],
        exceptions=[e for e in FACTS.exceptions if start <= e.raised_at < NOW],
        completions=[at for at in FACTS.completions if start <= at < NOW],
        actions=[a for a in FACTS.actions if start <= a.at < NOW],
    )


def tiles() -> list[KpiTile]:
    first = MIDNIGHT - timedelta(days=DAYS - 1)
    today, week, month = (compute(within(start), NOW) for start in (MIDNIGHT, NOW - timedelta(days=7), first))
    return board(today, week, month, series(within(first), first, NOW, NOW))


def tile(key: str) -> KpiTile:
    return next(t for t in tiles() if t.key == key)


def test_each_window_has_the_figures_of_its_own_orders() -> None:
    touchless = tile("touchless")
    assert (touchless.today, touchless.last_7_days, touchless.last_30_days) == (0.5, 1 / 3, 0.5)
    # The 30-day figure is what GET /v1/kpis computes from the same facts.
    assert touchless.last_30_days == compute(FACTS, NOW).touchless.rate


def test_exception_response_is_the_median_over_every_kind() -> None:
    response = tile("exception_response")
    assert response.today == 2.0  # raised 3 h ago, first acted on 1 h ago
    assert response.last_7_days == 2.0  # median (nearest rank) of 2 h and 4 h


def test_the_trend_has_one_point_per_day_oldest_first_with_gaps_for_days_without_orders() -> None:
    trend = tile("touchless").trend
    assert len(trend) == 30
    assert trend[-1] == 50.0 and trend[-6] == 0.0 and trend[-21] == 100.0
    assert [i for i, v in enumerate(trend) if v is not None] == [9, 24, 29]


def test_every_tile_is_shown_and_figures_without_a_daily_series_have_no_trend() -> None:
    assert [key for key, _, _, _ in TILES] == [t.key for t in tiles()]
    assert tile("exception_response").trend == [] and tile("warning_lead").trend == []
    assert tile("orders_per_person_day").trend[-1] == 1.0  # one completion, one person today
