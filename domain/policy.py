"""The promises an order carries: when it must ship, how long people may take, when to escalate.

Resolved once, when the order is submitted, from settings today (from business rules tomorrow), and
handed to the order's workflow, which keeps the timers.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from domain.exceptions import ExceptionKind
from domain.orders import Order, Priority

HOUR = 3600


@dataclass(frozen=True)
class Ladder:
    """After `remind_after_s` the assignee is reminded (level 1); `escalate_after_s` later a manager is."""

    remind_after_s: float = 30 * 60
    escalate_after_s: float = 2 * HOUR


@dataclass(frozen=True)
class OrderPolicy:
    ship_by: datetime
    warn_before_s: float = 48 * HOUR
    pick_sla_s: float = 4 * HOUR
    approval_sla_s: float = 24 * HOUR
    # Orders whose total (minor units of their currency) exceeds this wait for approval after confirm.
    approval_threshold: int | None = None
    allow_split: bool = True
    allow_partial: bool = False
    # How long a backordered order waits for stock before a person is asked (0: ask at once).
    backorder_window_s: float = 24 * HOUR
    # How long a completed order waits for the carrier's delivery reports before it closes.
    delivery_window_s: float = 30 * 24 * HOUR
    # Not a choice but a record of how the order's steps run, read by its workflow on every replay. Every
    # new order is started with True: local activities in the worker that runs the order (no round trip
    # through the server per step, a third of the history, OrderStatus written where the order rests).
    # Orders started before local steps carry no value and deserialise to False: they replay with regular
    # activities and a search-attribute write per status, as recorded (tests/histories/*.json).
    local_steps: bool = False
    default_ladder: Ladder = field(default_factory=Ladder)
    ladders: dict[str, Ladder] = field(default_factory=dict)

    def ladder(self, kind: ExceptionKind) -> Ladder:
        return self.ladders.get(kind.value, self.default_ladder)

    def needs_approval(self, total: int) -> bool:
        return self.approval_threshold is not None and total > self.approval_threshold


@dataclass(frozen=True)
class NewOrder:
    """What starts an order's workflow: the order as submitted and the promises it carries."""

    order: Order
    policy: OrderPolicy


def promised_ship_by(
    received_at: datetime, priority: Priority, requested: datetime | None, rush_hours: float, standard_hours: float
) -> datetime:
    """The channel's own promise if it gave one, else the default for the order's priority."""
    if requested is not None:
        return requested
    hours = rush_hours if priority is Priority.RUSH else standard_hours
    return received_at + timedelta(hours=hours)


def warning_time(received_at: datetime, ship_by: datetime, warn_before: timedelta) -> datetime:
    """When to warn that the promise is at risk: `warn_before` ahead of ship_by whenever the order allows it;
    an order promised sooner than that is warned halfway through its window instead of at once."""
    window = ship_by - received_at
    if window >= warn_before:
        return ship_by - warn_before
    return received_at + max(window, timedelta(0)) / 2
