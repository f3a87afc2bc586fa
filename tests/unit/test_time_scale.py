"""One setting compresses business time: every duration an order's policy carries is divided by
Settings.time_scale, and a rule's promise or hold with it; the workflow reads only the policy."""

from datetime import UTC, datetime, timedelta

from config import Settings
from domain.orders import Address, Customer, Order, OrderLine, Priority
from domain.policy import NewOrder
from domain.rules import Hold, RuleVersion, SetShipBy, apply, decide

NOW = datetime(2026, 11, 11, 8, tzinfo=UTC)


def order(priority: Priority = Priority.STANDARD) -> Order:
    return Order(
        channel="web",
        external_id="W-1",
        customer=Customer("C-1", "Li Wei", "li@example.com"),
        ship_to=Address("Li Wei", "88 Century Ave", "Shanghai", "200120", "CN"),
        lines=[OrderLine("TEA", 1, 4000)],
        currency="CNY",
        priority=priority,
    )


def test_every_duration_of_the_policy_is_divided_by_the_time_scale() -> None:
    real, fast = Settings().order_policy(order(), NOW), Settings(time_scale=90).order_policy(order(), NOW)

    assert fast.ship_by - NOW == (real.ship_by - NOW) / 90 == timedelta(hours=72) / 90
    for name in ("warn_before_s", "pick_sla_s", "approval_sla_s", "backorder_window_s", "delivery_window_s"):
        assert getattr(fast, name) == getattr(real, name) / 90, name
    assert fast.default_ladder.remind_after_s == 30 * 60 / 90
    assert fast.default_ladder.escalate_after_s == 120 * 60 / 90
    rush = Settings(time_scale=90).order_policy(order(Priority.RUSH), NOW)
    assert rush.ship_by - NOW == timedelta(hours=24) / 90


def test_a_ladder_override_and_the_return_windows_scale_too() -> None:
    settings = Settings(time_scale=60, escalation_overrides={"stock_shortage": (10, 60)})
    ladder = settings.order_policy(order(), NOW).ladders["stock_shortage"]
    assert (ladder.remind_after_s, ladder.escalate_after_s) == (10.0, 60.0)
    assert settings.return_policy().refund_sla_s == 48 * 3600 / 60


def test_a_rules_promise_and_hold_scale_with_the_settings() -> None:
    settings = Settings(time_scale=90)
    rule = RuleVersion(1, 1, "fast", "true", [SetShipBy(hours=9), Hold(reason="check", hours=3)], 100, False)
    new = apply(
        NewOrder(order(), settings.order_policy(order(), NOW)),
        decide([rule]),
        NOW,
        settings.promise_hours(),
        settings.time_scale,
    )
    assert new.policy.ship_by - NOW == timedelta(hours=9) / 90
    assert new.policy.hold_until is not None and new.policy.hold_until - NOW == timedelta(hours=3) / 90
