"""Exceptions: what stops an order and needs a person, and what that person may do about it."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from domain.orders import Step


class ExceptionKind(StrEnum):
    ORDER_INVALID = "order_invalid"
    STOCK_SHORTAGE = "stock_shortage"
    STEP_FAILED = "step_failed"
    ADDRESS_REJECTED = "address_rejected"
    PICK_OVERDUE = "pick_overdue"
    APPROVAL_OVERDUE = "approval_overdue"
    SLA_AT_RISK = "sla_at_risk"
    DELIVERY_FAILED = "delivery_failed"  # the carrier could not deliver a shipment


class Action(StrEnum):
    RETRY = "retry"  # run the step again (stock arrived, the integration is back, keep waiting)
    CANCEL = "cancel"
    SKIP = "skip"  # go on without the step, where the step may be skipped
    CHANGE_ADDRESS = "change_address"
    SHIP_AVAILABLE = "ship_available"  # ship what is in stock, drop the rest
    ACKNOWLEDGE = "acknowledge"  # a warning was seen; the order was never stopped


# Steps whose work can happen outside orderflow (invoicing in the ERP, say).
SKIPPABLE_STEPS = frozenset({Step.INVOICE})

# A warning does not stop the order; every other kind does.
NON_BLOCKING = frozenset({ExceptionKind.SLA_AT_RISK})
# Trouble with a parcel that has left: the rest of the order's ship-by promise is not at stake.
AFTER_SHIPPING = frozenset({ExceptionKind.DELIVERY_FAILED})


def allowed_actions(kind: ExceptionKind, step: Step, shipped: bool) -> list[Action]:
    """What a person may do about an exception of `kind` raised at `step`."""
    actions: list[Action]
    match kind:
        case ExceptionKind.STOCK_SHORTAGE:
            actions = [Action.RETRY, Action.SHIP_AVAILABLE, Action.CANCEL]
        case ExceptionKind.ADDRESS_REJECTED:
            actions = [Action.CHANGE_ADDRESS, Action.RETRY, Action.CANCEL]
        case ExceptionKind.SLA_AT_RISK:
            actions = [Action.ACKNOWLEDGE, Action.CANCEL]
        case ExceptionKind.PICK_OVERDUE | ExceptionKind.APPROVAL_OVERDUE | ExceptionKind.ORDER_INVALID:
            actions = [Action.RETRY, Action.CANCEL]
        case ExceptionKind.DELIVERY_FAILED:
            # retry: the carrier tries again (a delivered report clears it by itself);
            # acknowledge: settled outside orderflow (returned to sender, refunded).
            actions = [Action.RETRY, Action.ACKNOWLEDGE]
        case ExceptionKind.STEP_FAILED:
            actions = [Action.RETRY, Action.CANCEL]
            if step in SKIPPABLE_STEPS:
                actions.insert(1, Action.SKIP)
    if shipped:
        actions = [a for a in actions if a is not Action.CANCEL]
    return actions


@dataclass
class OrderException:
    exception_id: str
    kind: ExceptionKind
    step: Step
    message: str
    raised_at: datetime
    escalation_level: int = 0
    allowed_actions: list[Action] = field(default_factory=list)
    resolved_at: datetime | None = None
    resolution: Action | None = None
    resolved_by: str | None = None
    note: str = ""

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def blocking(self) -> bool:
        return self.kind not in NON_BLOCKING

    @property
    def threatens_shipping(self) -> bool:
        """Whether it can make the order miss its ship-by promise: not a parcel already on its way."""
        return self.kind not in AFTER_SHIPPING


@dataclass(frozen=True)
class Blocker:
    """What stopped a step: the order's workflow parks the order with an exception of this kind and
    message. (Here, not in the workflow's package, which the sandbox re-runs for every order.)"""

    kind: ExceptionKind
    message: str
    # When this becomes true the exception resolves itself (the late pick confirmation arrived).
    clears: Callable[[], bool] | None = None
