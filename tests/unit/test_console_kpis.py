"""The dashboard's KPI tiles: one read of 30 days' facts, cut into today, 7 days and each day of the trend,
give the figures domain/kpis.py computes for each of those windows."""

from datetime import UTC, datetime, timedelta

from api.console.kpis import TILES, KpiTile, board, daily, within
from domain.kpis import Action, ExceptionFacts, Facts, OrderFacts, compute

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


def tile(key: str) -> KpiTile:
    return next(t for t in board(FACTS, NOW) if t.key == key)


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


def test_cutting_by_day_is_cutting_by_window() -> None:
    first = NOW.replace(hour=0) - timedelta(days=29)
    for i, day in enumerate(daily(FACTS, first, 30)):
        assert day == within(FACTS, first + timedelta(days=i), first + timedelta(days=i + 1))
    assert {key for key, _, _ in TILES} == {t.key for t in board(FACTS, NOW)}
