"""Order edits before the goods leave: the rules and what an edit changes, as a pure function of the
order's lines and fulfilments.

An edit sets lines to new quantities (0 removes a line; a SKU not on the order adds one, with its
price), may change a line's price, the order's priority and its ship-by promise (a new date, later than
now, with a reason; the workflow's promise watch then warns and records a breach by the new date). A
line some of whose units have been picked or shipped cannot change. What the edit needs from stock:
every fulfilment not picked yet that carries a line whose quantity changes is dropped (its pick list
closes, its reservation goes back), and whatever the new lines need beyond the parts that stay is
planned and reserved again, in the same transaction as the release. Parts that carry no changed line
stay as they are.

The preview (`plan_edit` on the order's view) and the commit (the workflow, on its state) run the
same function, so a preview shows exactly what a commit at that moment would do.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from domain.order_state import rejected
from domain.orders import OrderLine, OrderStatus, Priority
from domain.policy import RuleFiring
from domain.steps import Fulfilment, OrderView, StockLine


@dataclass(frozen=True)
class LineChange:
    sku: str
    quantity: int  # the line's new quantity; 0 removes it
    unit_price: int | None = None  # minor units; required for a new line, else the line keeps its price
    gift: bool = False  # a business rule's gift (domain/edit_rules.py), added or withdrawn by the edit
    gift_required: bool = False


@dataclass(frozen=True)
class RulesAfterEdit:
    """What the business rules, evaluated again on the order as an edit leaves it, do to it beyond its
    lines (gifts travel as the edit's line changes). Decided outside the workflow, like the rules at
    submission, and fixed into the edit; `domain.edit_rules` says which actions still apply."""

    approvals: list[str] = field(default_factory=list)  # rules newly requiring approval, with why
    hold_reason: str | None = None  # a rule newly holding the order
    hold_hours: float | None = None
    tags: list[str] = field(default_factory=list)  # tags of rules newly firing
    firings: list[RuleFiring] = field(default_factory=list)  # rules newly firing, and what they did
    summary: str = ""  # the timeline's `rules` entry

    def __bool__(self) -> bool:
        return bool(self.summary)


@dataclass(frozen=True)
class EditOrder:
    changes: list[LineChange] = field(default_factory=list)
    priority: Priority | None = None
    actor: str = "operations"
    reason: str = ""
    ship_by: datetime | None = None  # a new ship-by promise; None keeps it
    # The business rules evaluated again on the edited order (domain/edit_rules.py); None: not evaluated.
    rules: RulesAfterEdit | None = None


@dataclass(frozen=True)
class EditPlan:
    lines: list[OrderLine]  # the order's lines once edited
    total: int
    difference: int  # new total - old total, minor units
    changed: list[str]  # SKUs whose quantity changes
    dropped: list[Fulfilment]  # parts not picked yet that the edit replaces
    to_release: list[StockLine]  # what the dropped parts give back
    to_reserve: list[StockLine]  # what must be reserved (at once, or when a not yet allocated order is)
    priority: Priority
    summary: str
    ship_by: datetime | None = None  # the new promise, when the edit moves it


def _units(lines: list[StockLine]) -> dict[str, int]:
    units: dict[str, int] = {}
    for line in lines:
        units[line.sku] = units.get(line.sku, 0) + line.quantity
    return units


def _describe(lines: list[OrderLine], edited: dict[str, OrderLine | None]) -> str:
    was = {line.sku: line for line in lines}
    parts = []
    for sku, line in edited.items():
        if line is None:
            parts.append(f"removed {sku}")
        elif sku not in was:
            parts.append(f"added {line.quantity} x {sku}")
        elif was[sku].quantity != line.quantity:
            parts.append(f"{sku} {was[sku].quantity} → {line.quantity}")
        elif was[sku].unit_price != line.unit_price:
            parts.append(f"{sku} price changed")
    return ", ".join(parts)


def plan_edit(
    lines: list[OrderLine],
    fulfilments: list[Fulfilment],
    waiting: list[StockLine],
    priority: Priority,
    edit: EditOrder,
    ship_by: datetime | None = None,
) -> EditPlan:
    """What the edit makes of the order (`ship_by`: its promise now); raises `Refusal` when it does not apply."""
    new_ship_by = edit.ship_by if edit.ship_by is not None and edit.ship_by != ship_by else None
    if not edit.changes and (edit.priority is None or edit.priority is priority) and new_ship_by is None:
        raise rejected("the edit changes nothing")
    if new_ship_by is not None and not edit.reason.strip():
        raise rejected("moving the ship-by promise needs a reason")
    current = {line.sku: line for line in lines}
    edited: dict[str, OrderLine | None] = {}
    for i, change in enumerate(edit.changes):
        if change.sku in edited:
            raise rejected(f"changes[{i}]: {change.sku} appears more than once")
        if change.quantity < 0:
            raise rejected(f"changes[{i}].quantity must not be negative")
        if change.unit_price is not None and change.unit_price < 0:
            raise rejected(f"changes[{i}].unit_price must not be negative")
        was = current.get(change.sku)
        if was is None and change.quantity == 0:
            raise rejected(f"changes[{i}]: {change.sku} is not on the order; there is nothing to remove")
        if was is None and change.unit_price is None:
            raise rejected(f"changes[{i}]: a new line ({change.sku}) needs its unit_price")
        price = change.unit_price if change.unit_price is not None else was.unit_price if was else 0
        gift = change.gift or (was is not None and was.gift)
        required = change.gift_required or (was is not None and was.gift_required)
        edited[change.sku] = OrderLine(change.sku, change.quantity, price, gift, required) if change.quantity else None

    new_lines = [edited.get(line.sku, line) for line in lines] + [
        line for sku, line in edited.items() if sku not in current
    ]
    kept_lines = [line for line in new_lines if line is not None]
    if not kept_lines:
        raise rejected("an edit cannot remove every line; cancel the order instead")

    new_quantity = {line.sku: line.quantity for line in kept_lines}
    changed = [sku for sku in edited if new_quantity.get(sku, 0) != (current[sku].quantity if sku in current else 0)]
    live = [f for f in fulfilments if not f.cancelled]
    settled = [f for f in live if f.picked_at is not None or f.shipment is not None]
    for fulfilment in settled:
        touched = sorted({line.sku for line in fulfilment.allocation.lines} & set(changed))
        if touched:
            how = "shipped" if fulfilment.shipment is not None else "picked"
            raise rejected(
                f"{', '.join(touched)} has been {how} ({fulfilment.allocation.allocation_id}); "
                "its line can no longer change"
            )

    dropped = [f for f in live if f not in settled and {line.sku for line in f.allocation.lines} & set(changed)]
    staying = _units([line for f in live if f not in dropped for line in f.allocation.lines])
    to_reserve = [
        StockLine(line.sku, line.quantity - staying.get(line.sku, 0))
        for line in kept_lines
        if line.quantity > staying.get(line.sku, 0)
    ]
    to_release = [StockLine(sku, q) for sku, q in _units([ln for f in dropped for ln in f.allocation.lines]).items()]
    old_total = sum(line.total for line in lines)
    total = sum(line.total for line in kept_lines)
    new_priority = edit.priority or priority
    summary = _describe(lines, edited)
    if new_priority is not priority:
        summary = f"{summary}, priority {new_priority.value}".lstrip(", ")
    if new_ship_by is not None:
        before = f"{ship_by.isoformat()} → " if ship_by is not None else ""
        summary = f"{summary}, ship-by {before}{new_ship_by.isoformat()}".lstrip(", ")
    return EditPlan(
        lines=kept_lines,
        total=total,
        difference=total - old_total,
        changed=changed,
        dropped=dropped,
        to_release=to_release,
        to_reserve=to_reserve,
        priority=new_priority,
        summary=summary,
        ship_by=new_ship_by,
    )


CLOSED_TO_EDITS = (OrderStatus.COMPLETED, OrderStatus.DELIVERED, OrderStatus.CANCELLED)


def preview_edit(view: OrderView, edit: EditOrder) -> EditPlan:
    """What committing the edit would do to the order as its view shows it; raises `Refusal` as the
    commit would."""
    if view.status in CLOSED_TO_EDITS:
        raise rejected(f"the order is {view.status.value}; it can no longer be edited")
    live = [f for f in view.fulfilments if not f.cancelled]
    if live and not view.backordered and all(f.shipment is not None for f in live):
        raise rejected("everything on the order has shipped; it can no longer be edited")
    return plan_edit(view.lines, view.fulfilments, view.backordered, view.order.priority, edit, view.ship_by)


# How far ahead an edit may move the promise (its timers must stay reasonable).
SHIP_BY_AHEAD = timedelta(days=366)


def check_ship_by(edit: EditOrder, now: datetime) -> None:
    """A new promise lies ahead, within `SHIP_BY_AHEAD`: refused (`Refusal`) otherwise."""
    if edit.ship_by is not None and edit.ship_by <= now:
        raise rejected(f"ship_by {edit.ship_by.isoformat()} is not in the future")
    if edit.ship_by is not None and edit.ship_by > now + SHIP_BY_AHEAD:
        raise rejected(f"ship_by may be at most {SHIP_BY_AHEAD.days} days ahead")
