"""A backordered order and the inbound stock due for it: the timeline says when it is expected, and a
`sla_at_risk` warning opens as soon as it is known to come after the ship-by promise — not when the
promise's own 48 h warning comes. The warning closes by itself when the inbound moves back in time, the
order stops waiting, or a later date replaces it (a new warning then says the new date).

Pure, like the `OrderState` it works on; the workflow reads the inbound and writes what comes back.
"""

from dataclasses import dataclass, field
from datetime import datetime

from domain.exceptions import Action, ExceptionKind, OrderException
from domain.inbound_eta import ExpectedInbound, arrivals, late_message, summary
from domain.order_state import Opened, OrderState
from domain.orders import Step
from domain.steps import KeyedEntry


@dataclass
class InboundChange:
    """What to write: timeline entries, exceptions closed, and the warning opened (if one was)."""

    entries: list[KeyedEntry] = field(default_factory=list)
    closed: list[OrderException] = field(default_factory=list)
    opened: Opened | None = None


class OrderInbound:
    def __init__(self, state: OrderState) -> None:
        self._state = state

    def skus(self) -> list[str]:
        return sorted({line.sku for line in self._state.waiting})

    def expected(self, now: datetime, inbound: list[ExpectedInbound]) -> InboundChange:
        """The open inbound for what the order waits for, as read now."""
        state = self._state
        change = InboundChange()
        found = arrivals(state.waiting, inbound)
        outlook = summary(found)
        if outlook != state.inbound_outlook:
            state.inbound_outlook = outlook
            change.entries.append(state.note(now, "inbound_expected", outlook or "no inbound expected any more"))
        message = late_message(found, state.policy.ship_by)
        warning = state.inbound_warning
        if warning is not None and warning.is_open and warning.message != message:
            why = "a later inbound date replaces it" if message else "inbound now comes in time for ship-by"
            change.entries.append(state.close(now, warning, Action.ACKNOWLEDGE, "system", why))
            change.closed.append(warning)
        # A warning a person acknowledged stays closed until the date it names changes.
        if message and (warning is None or warning.message != message):
            change.opened = state.open(now, Step.ALLOCATE, ExceptionKind.SLA_AT_RISK, message)
            state.inbound_warning = change.opened.exception
        return change

    def stopped_waiting(self, now: datetime) -> InboundChange:
        """The order waits for nothing any more (allocated, or the remainder dropped): an open warning
        about inbound has nothing to warn of. (A cancel closes it with every other exception.)"""
        state = self._state
        change = InboundChange()
        warning = state.inbound_warning
        if warning is not None and warning.is_open and state.cancel is None:
            change.entries.append(
                state.close(now, warning, Action.ACKNOWLEDGE, "system", "no longer waiting for stock")
            )
            change.closed.append(warning)
        state.inbound_outlook = ""
        return change
