"""The promises an order carries: when it must ship, how long people may take, when to escalate.

Resolved once, when the order is submitted, from settings and the business rules in force then
(domain/rules.py), and handed to the order's workflow, which keeps the timers.
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
class RuleFiring:
    """A rule that fired on the order: `rule_id@version`, what each of its actions did, and which of
    its actions a rule that ran before it overrode."""

    rule: str
    name: str
    did: list[str] = field(default_factory=list)
    overridden: list[str] = field(default_factory=list)

    def summary(self) -> str:
        rule_id, _, version = self.rule.partition("@")
        what = ", ".join(self.did + self.overridden) or "nothing"
        return f"rule {rule_id} v{version} '{self.name}' {what}"


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
    # Set by business rules at submission (domain/rules.py); every one has a default, so orders started
    # before rules existed keep deserialising and replaying.
    approval_reasons: list[str] = field(default_factory=list)  # non-empty: a rule requires approval
    route: list[str] = field(default_factory=list)  # warehouses to ship from, preferred first
    route_only: bool = False  # True: only from `route`; False: `route` first, then the others
    hold_reason: str | None = None  # the order starts on hold
    hold_until: datetime | None = None  # ... released by itself at this time (None: by a person)
    tags: list[str] = field(default_factory=list)
    rules: list[RuleFiring] = field(default_factory=list)
    default_ladder: Ladder = field(default_factory=Ladder)
    ladders: dict[str, Ladder] = field(default_factory=dict)

    def ladder(self, kind: ExceptionKind) -> Ladder:
        return self.ladders.get(kind.value, self.default_ladder)

    def needs_approval(self, total: int) -> bool:
        return bool(self.approval_reasons) or (self.approval_threshold is not None and total > self.approval_threshold)

    def rules_summary(self) -> str:
        """The timeline's line about the rules that fired: "rule 12 v3 'Web gift' added MUG-OF x 1; …"."""
        return "; ".join(firing.summary() for firing in self.rules)

    def approval_reason(self, total: str) -> str:
        """Why the order waits for approval, for its timeline."""
        return "; ".join(self.approval_reasons) or f"total {total} is over the threshold"


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
