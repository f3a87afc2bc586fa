"""Which read-model changes are business events, and their ids."""

from datetime import UTC, datetime

from domain.events import CATALOGUE, events_of, is_retryable, matches
from domain.exceptions import Action, ExceptionKind, OrderException
from domain.orders import OrderStatus, Step, TimelineEntry
from domain.steps import Alert, AlertKind, KeyedEntry, ProjectOrder

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def entry(key: str, event: str, detail: str = "") -> KeyedEntry:
    return KeyedEntry(key, TimelineEntry(NOW, OrderStatus.SHIPPED, event, detail))


def test_a_change_yields_its_events_with_ids_from_business_identity() -> None:
    change = ProjectOrder(
        "web-1",
        OrderStatus.COMPLETED,
        [
            KeyedEntry(
                "shipped:SH-1",
                TimelineEntry(NOW, OrderStatus.SHIPPED, "shipped", "Acme Express 1Z 999 AA1"),
                {"shipment_id": "SH-1", "carrier": "Acme Express", "tracking_number": "1Z 999 AA1"},
            ),
            entry("picked:PL-1", "picked"),
        ],
    )
    first, again = events_of(change, NOW), events_of(change, NOW)
    assert [(e.type, e.event_id) for e in first] == [(e.type, e.event_id) for e in again]
    assert [e.type for e in first] == ["order.shipped", "order.completed"]
    shipped = first[0].data
    # Carried as facts, not read back out of the text: carriers' names and tracking numbers have spaces.
    assert shipped["shipment_id"] == "SH-1" and shipped["carrier"] == "Acme Express"
    assert shipped["tracking_number"] == "1Z 999 AA1" and shipped["order_id"] == "web-1"
    other = events_of(ProjectOrder("web-2", OrderStatus.COMPLETED, [entry("shipped:SH-1", "shipped")]), NOW)
    assert {e.event_id for e in other}.isdisjoint(e.event_id for e in first)


def test_alerts_and_resolved_exceptions() -> None:
    exception = OrderException("web-1-EX1", ExceptionKind.PICK_OVERDUE, Step.PICK, "late", NOW, escalation_level=2)
    alerts = [
        Alert("web-1-EX1:L1", AlertKind.EXCEPTION_REMINDER, "web-1", "remind", NOW, 1, "web-1-EX1"),
        Alert("web-1-EX1:L2", AlertKind.EXCEPTION_ESCALATED, "web-1", "manager", NOW, 2, "web-1-EX1"),
        Alert("web-1:breach", AlertKind.SLA_BREACHED, "web-1", "late", NOW),
    ]
    still_open = events_of(ProjectOrder("web-1", OrderStatus.NEEDS_ATTENTION, [], [exception], alerts), NOW)
    assert [(e.type, e.data["level"]) for e in still_open] == [("exception.escalated", 2)]
    exception.resolved_at, exception.resolution = NOW, Action.RETRY
    resolved = events_of(ProjectOrder("web-1", OrderStatus.PICKING, [], [exception]), NOW)
    assert [(e.type, e.data["resolution"]) for e in resolved] == [("exception.resolved", "retry")]


def test_subscription_matching_and_retryable_answers() -> None:
    assert matches(["*"], "order.shipped") and matches(["order.shipped"], "order.shipped")
    assert not matches(["order.completed"], "order.shipped")
    assert {"order.received", "exception.resolved", "alert.sla_at_risk"} <= set(CATALOGUE)
    assert [code for code in (200, 400, 404, 408, 409, 410, 429, 500, 503) if is_retryable(code)] == [
        408,
        429,
        500,
        503,
    ]
