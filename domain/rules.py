"""Business rules: a condition over the order as submitted and a closed set of actions.

Pure: which rules fired, in what order, which single-valued actions won and which were overridden, and
what that makes of the order and its policy. The condition itself is evaluated outside (rules/engine.py);
this module sees only the rules whose condition held, in the order they run.
"""

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from domain.orders import OrderLine, Priority
from domain.policy import NewOrder, RuleFiring


class RuleStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    ARCHIVED = "archived"


class RouteMode(StrEnum):
    PREFER = "prefer"
    ONLY = "only"


@dataclass(frozen=True)
class AddGift:
    sku: str
    quantity: int = 1
    # A gift ships only if it is in stock when the order is allocated, unless the rule requires it.
    required: bool = False


@dataclass(frozen=True)
class RequireApproval:
    reason: str


@dataclass(frozen=True)
class Hold:
    reason: str
    hours: float | None = None


@dataclass(frozen=True)
class SetPriority:
    priority: Priority


@dataclass(frozen=True)
class SetShipBy:
    hours: float


@dataclass(frozen=True)
class Route:
    warehouses: list[str]
    mode: RouteMode = RouteMode.PREFER


@dataclass(frozen=True)
class SetSplit:
    allow_split: bool | None = None
    allow_partial: bool | None = None


@dataclass(frozen=True)
class Tag:
    tags: list[str]


Action = AddGift | RequireApproval | Hold | SetPriority | SetShipBy | Route | SetSplit | Tag

# The action's name in the API and the docs.
ACTION_NAMES: dict[type, str] = {
    AddGift: "add_gift",
    RequireApproval: "require_approval",
    Hold: "hold",
    SetPriority: "set_priority",
    SetShipBy: "set_ship_by",
    Route: "route",
    SetSplit: "set_split",
    Tag: "tag",
}
# One value per order: the first rule to set it wins, later ones are recorded as overridden.
SINGLE_VALUED = frozenset({Hold, SetPriority, SetShipBy, Route, SetSplit})


@dataclass(frozen=True)
class RuleVersion:
    """One immutable version of a rule."""

    rule_id: int
    version: int
    name: str
    when: str
    then: list[Action]
    priority: int = 100  # lower runs first; the first to set a single-valued action wins
    exclusive: bool = False  # once it fires, no rule after it applies
    status: RuleStatus = RuleStatus.DRAFT
    description: str = ""
    active_from: datetime | None = None
    active_to: datetime | None = None

    @property
    def ref(self) -> str:
        return f"{self.rule_id}@{self.version}"

    def label(self) -> str:
        return f"rule {self.rule_id} v{self.version} '{self.name}'"

    def in_force(self, at: datetime) -> bool:
        if self.active_from is not None and at < self.active_from:
            return False
        return self.active_to is None or at < self.active_to


def running_order(rules: list[RuleVersion]) -> list[RuleVersion]:
    return sorted(rules, key=lambda r: (r.priority, r.rule_id))


def describe(action: Action) -> str:
    """What an action does, as the order's timeline says it."""
    match action:
        case AddGift(sku, quantity, required):
            return f"added {sku} x {quantity}" + (" (required)" if required else "")
        case RequireApproval(reason):
            return f"requires approval: {reason}"
        case Hold(reason, hours):
            return f"held: {reason}" + (f" for {hours:g} h" if hours else "")
        case SetPriority(priority):
            return f"set priority {priority.value}"
        case SetShipBy(hours):
            return f"set ship-by to {hours:g} h after receipt"
        case Route(warehouses, mode):
            return f"routed to {', '.join(warehouses)} ({mode.value})"
        case SetSplit(allow_split, allow_partial):
            parts = [f"split {'allowed' if allow_split else 'not allowed'}"] if allow_split is not None else []
            if allow_partial is not None:
                parts.append(f"partial shipment {'allowed' if allow_partial else 'not allowed'}")
            return "; ".join(parts) or "split unchanged"
        case Tag(tags):
            return f"tagged {', '.join(tags)}"
    raise AssertionError(action)


@dataclass
class Decision:
    """What the rules that fired decide for one order."""

    firings: list[RuleFiring] = field(default_factory=list)
    gifts: list[AddGift] = field(default_factory=list)
    approvals: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    single: dict[type, tuple[Action, RuleVersion]] = field(default_factory=dict)

    def won(self, kind: type) -> Action | None:
        chosen = self.single.get(kind)
        return chosen[0] if chosen else None


def decide(fired: list[RuleVersion]) -> Decision:
    """`fired`: the rules whose condition held, in running order (exclusivity applied already)."""
    decision = Decision()
    for rule in fired:
        did: list[str] = []
        overridden: list[str] = []
        for action in rule.then:
            kind = type(action)
            if kind in SINGLE_VALUED:
                if kind in decision.single:
                    winner = decision.single[kind][1]
                    overridden.append(f"{ACTION_NAMES[kind]} overridden by {winner.ref}")
                    continue
                decision.single[kind] = (action, rule)
            elif isinstance(action, AddGift):
                decision.gifts.append(action)
            elif isinstance(action, RequireApproval):
                decision.approvals.append(f"{action.reason} ({rule.label()})")
            elif isinstance(action, Tag):
                decision.tags.extend(t for t in action.tags if t not in decision.tags)
            did.append(describe(action))
        decision.firings.append(RuleFiring(rule.ref, rule.name, did, overridden))
    return decision


def apply(
    new: NewOrder,
    decision: Decision,
    received_at: datetime,
    promise_hours: tuple[float, float] = (24, 72),
    time_scale: float = 1.0,
) -> NewOrder:
    """The order and its policy as the rules leave them. The fingerprint stays that of the order as
    submitted, so a resubmission after a rule change is still recognised as the same order.
    `promise_hours`: (rush, standard) hours of the default promise, for a rule that changes the priority;
    `time_scale` divides a rule's own hours as it divides the settings' (config.Settings.time_scale)."""
    if not decision.firings:
        return new
    order, policy = new.order, new.policy
    on_order = {line.sku for line in order.lines}
    lines = list(order.lines)
    firings = list(decision.firings)
    for gift in decision.gifts:
        if gift.sku in on_order:
            firings = _note_skip(firings, gift, "already on the order")
            continue
        on_order.add(gift.sku)
        lines.append(OrderLine(gift.sku, gift.quantity, 0, gift=True, gift_required=gift.required))
    priority = decision.won(SetPriority)
    changed = replace(
        order,
        lines=lines,
        priority=priority.priority if isinstance(priority, SetPriority) else order.priority,
        as_submitted=order.fingerprint(),
    )
    ship_by = policy.ship_by
    promise = decision.won(SetShipBy)
    if isinstance(promise, SetShipBy):
        ruled = received_at + timedelta(hours=promise.hours / time_scale)
        ship_by = min(ruled, order.ship_by) if order.ship_by else ruled  # a channel's own promise may be sooner
    elif isinstance(priority, SetPriority) and order.ship_by is None:
        rush_hours, standard_hours = promise_hours
        ship_by = received_at + timedelta(hours=rush_hours if priority.priority is Priority.RUSH else standard_hours)
    split = decision.won(SetSplit)
    route = decision.won(Route)
    hold = decision.won(Hold)
    hold_rule = decision.single[Hold][1] if Hold in decision.single else None
    policy = replace(
        policy,
        ship_by=ship_by,
        approval_reasons=list(decision.approvals),
        allow_split=split.allow_split
        if isinstance(split, SetSplit) and split.allow_split is not None
        else policy.allow_split,
        allow_partial=split.allow_partial
        if isinstance(split, SetSplit) and split.allow_partial is not None
        else policy.allow_partial,
        route=list(route.warehouses) if isinstance(route, Route) else [],
        route_only=isinstance(route, Route) and route.mode is RouteMode.ONLY,
        hold_reason=f"{hold.reason} ({hold_rule.label()})" if isinstance(hold, Hold) and hold_rule else None,
        hold_until=received_at + timedelta(hours=hold.hours / time_scale)
        if isinstance(hold, Hold) and hold.hours
        else None,
        tags=list(decision.tags),
        rules=firings,
    )
    return NewOrder(changed, policy)


def _note_skip(firings: list[RuleFiring], gift: AddGift, why: str) -> list[RuleFiring]:
    added = describe(gift)
    return [
        replace(f, did=[d if d != added else f"{added} skipped: {why}" for d in f.did]) if added in f.did else f
        for f in firings
    ]


def threshold_condition(thresholds: dict[str, str]) -> str:
    """The condition of the default approval rule, from the old `approval_thresholds` setting:
    `order.currency == "CNY" && order.total > 50000.00 || …` (totals are decimal amounts)."""
    parts = [
        f'order.currency == "{currency}" && order.total > {float(amount):.2f}'
        for currency, amount in sorted(thresholds.items())
    ]
    return " || ".join(parts) or "false"


DEFAULT_APPROVAL_RULE = "Approval over the order-total threshold"
DEFAULT_APPROVAL_PRIORITY = 1000  # after every rule a person writes
