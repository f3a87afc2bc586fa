"""Business events: what subscribers (webhooks, the message bus) hear about an order.

Events are derived from the read-model changes the workflow makes (`ProjectOrder`), so they land in
the same transaction as the business record (a transactional outbox). Each event's id is derived from
the business identity of what happened — the timeline entry's key, the alert id, the exception id — so
a retried projection yields the same ids and nothing new is stored.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.orders import OrderStatus
from domain.steps import Alert, AlertKind, KeyedEntry, ProjectOrder

# uuid5 namespace of orderflow event ids (any fixed UUID would do; this one must never change).
EVENT_NAMESPACE = uuid.UUID("5b0c1d2e-8f4a-4c1b-9d7e-6a3f0e2b1c77")

ORDER_RECEIVED = "order.received"
ORDER_CONFIRMED = "order.confirmed"
ORDER_ALLOCATED = "order.allocated"
ORDER_BACKORDERED = "order.backordered"
ORDER_SHIPPED = "order.shipped"
ORDER_DELIVERED = "order.delivered"
ORDER_COMPLETED = "order.completed"
ORDER_CANCELLED = "order.cancelled"
ORDER_EDITED = "order.edited"
ORDER_REMAINDER_CANCELLED = "order.remainder_cancelled"
SHIPMENT_HANDED_TO_CARRIER = "shipment.handed_to_carrier"
# A return's timeline events (`domain.returns.ReturnEvent.event`) and the business events they are.
RETURN_EVENTS: dict[str, str] = {
    event: f"return.{event}"
    for event in (
        "requested",
        "approved",
        "declined",
        "received",
        "refunded",
        "refund_overdue",
        "refund_refused",
        "expired",
        "closed",
    )
}
# Return events that are also alerts for people.
RETURN_ALERTS = ("refund_overdue", "refund_refused")
EXCEPTION_OPENED = "exception.opened"
EXCEPTION_ESCALATED = "exception.escalated"
EXCEPTION_RESOLVED = "exception.resolved"
ALERT_SLA_AT_RISK = "alert.sla_at_risk"
ALERT_DELIVERY_AT_RISK = "alert.delivery_at_risk"
# Stock's own events (docs/foresight.md): their order_id is empty.
INVENTORY_STOCKOUT_PREDICTED = "inventory.stockout_predicted"
INVENTORY_STOCKOUT_CLEARED = "inventory.stockout_cleared"
# Not about an order (their order_id is empty): a business rule starts or stops running.
RULE_ACTIVATED = "rule.activated"
RULE_ARCHIVED = "rule.archived"

# Timeline events (the `event` of a timeline entry) that are business events.
TIMELINE_EVENTS: dict[str, str] = {
    "received": ORDER_RECEIVED,
    "confirmed": ORDER_CONFIRMED,
    "allocated": ORDER_ALLOCATED,
    "backordered": ORDER_BACKORDERED,
    "shipped": ORDER_SHIPPED,
    "cancelled": ORDER_CANCELLED,
    "edited": ORDER_EDITED,
    "remainder_cancelled": ORDER_REMAINDER_CANCELLED,
    "handed_to_carrier": SHIPMENT_HANDED_TO_CARRIER,
}
# Statuses whose arrival is an event, once per order.
STATUS_EVENTS: dict[str, str] = {
    OrderStatus.COMPLETED.value: ORDER_COMPLETED,
    "delivered": ORDER_DELIVERED,
}
ALERT_EVENTS: dict[str, str] = {
    AlertKind.EXCEPTION_OPENED: EXCEPTION_OPENED,
    AlertKind.EXCEPTION_ESCALATED: EXCEPTION_ESCALATED,
    AlertKind.SLA_AT_RISK: ALERT_SLA_AT_RISK,
}

# Everything a subscription may ask for, in the order an order usually produces them.
CATALOGUE: tuple[str, ...] = (
    ORDER_RECEIVED,
    ORDER_CONFIRMED,
    ORDER_ALLOCATED,
    ORDER_BACKORDERED,
    ORDER_SHIPPED,
    SHIPMENT_HANDED_TO_CARRIER,
    ORDER_DELIVERED,
    ORDER_COMPLETED,
    ORDER_CANCELLED,
    ORDER_EDITED,
    ORDER_REMAINDER_CANCELLED,
    EXCEPTION_OPENED,
    EXCEPTION_ESCALATED,
    EXCEPTION_RESOLVED,
    ALERT_SLA_AT_RISK,
    ALERT_DELIVERY_AT_RISK,
    INVENTORY_STOCKOUT_PREDICTED,
    INVENTORY_STOCKOUT_CLEARED,
    RULE_ACTIVATED,
    RULE_ARCHIVED,
    *RETURN_EVENTS.values(),
)
ALL_TYPES = "*"

SUBJECT_PREFIX = "orderflow"


@dataclass(frozen=True)
class BusinessEvent:
    event_id: str
    type: str
    order_id: str
    occurred_at: datetime
    data: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        """What a subscriber receives: `{id, type, occurred_at, data}`."""
        return {"id": self.event_id, "type": self.type, "occurred_at": self.occurred_at.isoformat(), "data": self.data}


def event_id(*identity: str) -> str:
    return str(uuid.uuid5(EVENT_NAMESPACE, "/".join(identity)))


def subject_for(event_type: str) -> str:
    """The message-bus subject: `orderflow.order.shipped`."""
    return f"{SUBJECT_PREFIX}.{event_type}"


def matches(event_types: list[str], event_type: str) -> bool:
    return ALL_TYPES in event_types or event_type in event_types


def events_of(change: ProjectOrder, now: datetime) -> list[BusinessEvent]:
    """The business events a read-model change carries; the same change always gives the same events."""
    order_id, status = change.order_id, change.status.value
    found = [_from_entry(order_id, status, keyed) for keyed in change.entries if keyed.entry.event in TIMELINE_EVENTS]
    if status in STATUS_EVENTS:
        at = max((keyed.entry.at for keyed in change.entries), default=now)
        found.append(BusinessEvent(event_id(order_id, status), STATUS_EVENTS[status], order_id, at, {"status": status}))
    for exception in change.exceptions:
        if exception.resolved_at is None:
            continue
        data = {
            "status": status,
            "exception_id": exception.exception_id,
            "kind": exception.kind.value,
            "step": exception.step.value,
            "message": exception.message,
            "level": exception.escalation_level,
            "resolution": exception.resolution.value if exception.resolution else None,
            "resolved_by": exception.resolved_by,
            "note": exception.note,
        }
        found.append(
            BusinessEvent(
                event_id("exception", exception.exception_id, "resolved"),
                EXCEPTION_RESOLVED,
                order_id,
                exception.resolved_at,
                data,
            )
        )
    found.extend(_from_alert(status, alert) for alert in change.alerts if alert.kind in ALERT_EVENTS)
    for event in found:
        event.data["order_id"] = order_id
        event.data.setdefault("status", status)
    return found


def _from_entry(order_id: str, status: str, keyed: KeyedEntry) -> BusinessEvent:
    entry = keyed.entry
    data: dict[str, Any] = {"status": status, "detail": entry.detail, "actor": entry.actor, **keyed.facts}
    return BusinessEvent(event_id(order_id, keyed.key), TIMELINE_EVENTS[entry.event], order_id, entry.at, data)


def _from_alert(status: str, alert: Alert) -> BusinessEvent:
    data: dict[str, Any] = {
        "status": status,
        "alert_id": alert.alert_id,
        "exception_id": alert.exception_id,
        "message": alert.message,
        "level": alert.level,
    }
    return BusinessEvent(
        event_id("alert", alert.alert_id), ALERT_EVENTS[alert.kind], alert.order_id, alert.raised_at, data
    )


# ---- webhook delivery -------------------------------------------------------------------------

DELIVERY_PENDING = "pending"
DELIVERY_DELIVERED = "delivered"
DELIVERY_FAILED = "failed"
DELIVERY_STATUSES = (DELIVERY_PENDING, DELIVERY_DELIVERED, DELIVERY_FAILED)

# An answer a retry may change: timeouts, throttling, server trouble. Every other 4xx is final.
RETRYABLE_4XX = frozenset({408, 429})


def is_retryable(status_code: int) -> bool:
    return status_code >= 500 or status_code in RETRYABLE_4XX


def delivery_id_for(subscription_id: str, event_id: str) -> str:
    return f"{subscription_id}:{event_id}"


@dataclass(frozen=True)
class DeliverWebhook:
    delivery_id: str
    subscription_id: str
    event_id: str
    retry_hours: float = 24.0


@dataclass(frozen=True)
class DeliveryAttempted:
    status_code: int


@dataclass(frozen=True)
class DeadLetter:
    delivery_id: str
    error: str
