"""Changes to an order after it was placed: edit it before the goods leave (rules in `order_edits`),
cancel the part that has not shipped.

Each change has its rule (`check_*`, raising `Refusal`; the workflow runs it as the update's validator
and again once it holds the order's write lock, since a step may have moved on in between) and its
change (what to give back, and the timeline entries and exceptions to write). Pure, like the
`OrderState` it works on.
"""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from domain.exceptions import Action, ExceptionKind, OrderException
from domain.order_edits import EditOrder, EditPlan, check_ship_by, plan_edit
from domain.order_state import OrderState, rejected
from domain.orders import OrderStatus
from domain.policy import warning_time
from domain.steps import CancelRequest, Fulfilment, KeyedEntry, StockLine, describe_missing

# Exceptions that only wait for the part being cancelled: they close with it.
WAITING_FOR_REMAINDER = (ExceptionKind.STOCK_SHORTAGE, ExceptionKind.PICK_OVERDUE)


@dataclass(frozen=True)
class Remainder:
    """What a remainder cancel drops: fulfilments not picked yet and the backordered lines."""

    fulfilments: list[Fulfilment]
    backordered: list[StockLine]

    def __bool__(self) -> bool:
        return bool(self.fulfilments or self.backordered)

    def describe(self) -> str:
        units: dict[str, int] = {}
        for line in [line for f in self.fulfilments for line in f.allocation.lines] + self.backordered:
            units[line.sku] = units.get(line.sku, 0) + line.quantity
        return describe_missing([StockLine(sku, quantity) for sku, quantity in units.items()])


@dataclass(frozen=True)
class RemainderCancelled:
    remainder: Remainder
    entries: list[KeyedEntry]
    closed: list[OrderException]


@dataclass(frozen=True)
class Edited:
    plan: EditPlan
    entries: list[KeyedEntry]
    closed: list[OrderException]
    reallocate: bool  # the order had been allocated: what the edit needs is reserved now


class OrderChanges:
    def __init__(self, state: OrderState) -> None:
        self._state = state

    def _waiting_for_nothing(self, dropped: list[Fulfilment]) -> list[OrderException]:
        """Open exceptions that only waited for dropped parts (or for stock the order no longer waits for)."""
        state = self._state
        pick_lists = {f.pick_list.pick_list_id for f in dropped if f.pick_list is not None}
        return [
            e
            for e in state.exceptions
            if e.is_open
            and e.kind in WAITING_FOR_REMAINDER
            and (
                (e.kind is ExceptionKind.STOCK_SHORTAGE and not state.waiting)
                or (e.kind is ExceptionKind.PICK_OVERDUE and e.message.split(" ", 1)[0] in pick_lists)
            )
        ]

    def check_edit(self, req: EditOrder, now: datetime) -> EditPlan:
        state = self._state
        check_ship_by(req, now)
        if state.progress in (OrderStatus.COMPLETED, OrderStatus.DELIVERED, OrderStatus.CANCELLED):
            raise rejected(f"the order is {state.progress.value}; it can no longer be edited")
        if state.cancel is not None:
            raise rejected("the order is being cancelled")
        if state.all_shipped():
            raise rejected("everything on the order has shipped; it can no longer be edited")
        return plan_edit(state.lines, state.fulfilments, state.waiting, state.order.priority, req, state.policy.ship_by)

    def edit(self, now: datetime, req: EditOrder) -> Edited:
        """Apply the edit: new lines and total, replaced parts dropped, what they need waiting to be reserved."""
        state = self._state
        plan = self.check_edit(req, now)
        allocated_once = bool(state.fulfilments) or state.waiting_since is not None
        state.order = replace(state.order, lines=plan.lines, priority=plan.priority)
        state.lines = list(plan.lines)
        for fulfilment in plan.dropped:
            fulfilment.cancelled = True
        if allocated_once or state.waiting:  # allocated, or about to be: it takes what the edit needs
            state.waiting = list(plan.to_reserve)
        if not state.waiting:
            state.waiting_since = None
        # The edit reserves what it needs itself (the workflow clears this once it has): meanwhile the
        # main flow does not treat the order as backordered.
        state.editing = allocated_once and bool(state.waiting)
        closed = self._waiting_for_nothing(plan.dropped)
        entries = [state.close(now, e, Action.CANCEL, req.actor, "replaced by an edit") for e in closed]
        if plan.ship_by is not None:
            withdrawn = self._move_promise(now, plan.ship_by)
            entries += [state.close(now, e, Action.ACKNOWLEDGE, req.actor, "ship-by moved") for e in withdrawn]
            closed += withdrawn
        detail = f"{plan.summary}. {req.reason}" if req.reason else plan.summary
        entries.append(state.note(now, "edited", detail, req.actor))
        return Edited(plan, entries, closed, reallocate=allocated_once)

    def _move_promise(self, now: datetime, ship_by: datetime) -> list[OrderException]:
        """The order promises `ship_by` now. A warning given for the old date that the new one would not
        give yet is withdrawn: its open `sla_at_risk` warnings come back to close, and the promise watch
        (workflows/order/promise.py) warns again by the new date."""
        state = self._state
        state.policy = replace(state.policy, ship_by=ship_by)
        state.inbound_nudges += 1  # a backordered order checks its inbound against the new date
        warn_at = warning_time(state.received_at, ship_by, timedelta(seconds=state.policy.warn_before_s))
        if not state.warned or warn_at <= now:
            return []
        state.warned = False
        return [e for e in state.exceptions if e.is_open and e.kind is ExceptionKind.SLA_AT_RISK]

    def remainder(self) -> Remainder:
        state = self._state
        unpicked = [
            f
            for f in state.fulfilments
            if not f.cancelled
            and f.picked_at is None
            and f.shipment is None
            and f.allocation.allocation_id not in state.shipping
        ]
        return Remainder(unpicked, list(state.waiting))

    def check_cancel_remainder(self, req: CancelRequest) -> None:
        state = self._state
        if state.progress in (OrderStatus.COMPLETED, OrderStatus.DELIVERED, OrderStatus.CANCELLED):
            raise rejected(f"the order is {state.progress.value}; nothing remains to cancel")
        if state.cancel is not None:
            raise rejected("the order is being cancelled already")
        if not state.shipping:
            raise rejected("nothing has shipped yet; cancel the whole order instead")
        if not self.remainder():
            raise rejected("nothing remains to cancel: every part of the order has been picked or shipped")

    def cancel_remainder(self, now: datetime, req: CancelRequest) -> RemainderCancelled:
        """Drop what has not been picked or shipped; exceptions that only waited for it close."""
        state = self._state
        remainder = self.remainder()
        state.remainder = req
        for fulfilment in remainder.fulfilments:
            fulfilment.cancelled = True
        state.waiting = []
        state.waiting_since = None
        closed = self._waiting_for_nothing(remainder.fulfilments)
        entries = [state.close(now, e, Action.CANCEL, req.actor, "remainder cancelled") for e in closed]
        detail = f"{remainder.describe()}: {req.reason}".strip(": ")
        entries.append(state.note(now, "remainder_cancelled", detail, req.actor))
        return RemainderCancelled(remainder, entries, closed)
