"""What people may do to a running order: resolve its exceptions, cancel, hold and release, change its
address, approve or reject it. Each control has its rule (`check_*`, raising `Refusal`; the workflow runs
it as the update's validator) and its change (the timeline entries and exceptions to write).
Pure, like the `OrderState` it works on."""

from datetime import datetime

from domain.exceptions import Action, ExceptionKind, OrderException
from domain.order_state import OrderState, rejected
from domain.orders import OrderStatus
from domain.steps import CancelRequest, ChangeAddress, ControlRequest, HoldRequest, KeyedEntry, ResolveException


class OrderControls:
    def __init__(self, state: OrderState) -> None:
        self._state = state

    def check_resolve(self, req: ResolveException) -> None:
        exception = self._state.exception(req.exception_id)
        if not exception.is_open:
            if exception.resolution is req.action:
                return
            raise rejected(f"{exception.exception_id} was already resolved with {exception.resolution}")
        if req.action not in exception.allowed_actions:
            allowed = ", ".join(a.value for a in exception.allowed_actions)
            raise rejected(f"{req.action.value} does not apply to {exception.kind.value}; allowed: {allowed}")
        if req.action is Action.CANCEL:
            self.check_cancel(CancelRequest(req.note, req.actor))
        if req.action is Action.CHANGE_ADDRESS:
            if req.ship_to is None:
                raise rejected("change_address needs the new address in ship_to")
            self.check_change_address(ChangeAddress(req.ship_to, req.actor))

    def resolve(self, now: datetime, exception: OrderException, req: ResolveException) -> list[KeyedEntry]:
        """Close an open exception with a person's action other than cancel, and do what the action says."""
        state = self._state
        entries = [state.close(now, exception, req.action, req.actor, req.note)]
        if req.action is Action.CHANGE_ADDRESS and req.ship_to is not None:
            state.ship_to = req.ship_to
            entries.append(state.note(now, "address_changed", f"{req.ship_to.city}, {req.ship_to.country}", req.actor))
        if exception.kind is ExceptionKind.DELIVERY_FAILED and req.action is Action.ACKNOWLEDGE:
            # Settled outside (returned to sender): the order stops waiting for this shipment.
            shipment_id = state.failed_deliveries[exception.exception_id]
            state.shipped(shipment_id).returned = True
        if exception.kind is ExceptionKind.STOCK_SHORTAGE and req.action in (Action.RETRY, Action.SHIP_AVAILABLE):
            state.allocate_now = True
            state.allow_partial = state.allow_partial or req.action is Action.SHIP_AVAILABLE
        return entries

    def check_cancel(self, req: CancelRequest) -> None:
        state = self._state
        if state.progress in (OrderStatus.COMPLETED, OrderStatus.DELIVERED, OrderStatus.CANCELLED):
            raise rejected(f"the order is {state.progress.value}")
        if state.shipping:
            raise rejected(
                "the order has shipped (or is being handed to the carrier); it can be returned, not cancelled"
            )
        if state.cancel is not None:
            raise rejected("the order is being cancelled already")

    def _require_open(self, what: str) -> None:
        state = self._state
        if state.progress in (OrderStatus.COMPLETED, OrderStatus.DELIVERED, OrderStatus.CANCELLED):
            raise rejected(f"the order is {state.progress.value}; it cannot be {what}")
        if state.cancel is not None:
            raise rejected("the order is being cancelled")

    def check_hold(self, req: HoldRequest, now: datetime) -> None:
        self._require_open("held")
        if self._state.hold is not None:
            raise rejected("the order is on hold already")
        if req.until is not None and req.until <= now:
            raise rejected("a hold must end in the future")

    def put_on_hold(self, now: datetime, req: HoldRequest) -> KeyedEntry:
        state = self._state
        state.hold = req
        until = f" until {req.until.isoformat()}" if req.until else ""
        return state.note(now, "held", f"{req.reason}{until}", req.actor)

    def check_release(self, req: ControlRequest) -> None:
        if self._state.hold is None:
            raise rejected("the order is not on hold")

    def release(self, now: datetime, note: str, actor: str = "system") -> KeyedEntry:
        state = self._state
        state.hold = None
        return state.note(now, "released", note, actor)

    def check_change_address(self, req: ChangeAddress) -> None:
        self._require_open("re-addressed")
        if self._state.shipping:
            raise rejected("the order has shipped; its address can no longer change")

    def change_address(self, now: datetime, req: ChangeAddress) -> tuple[list[KeyedEntry], list[OrderException]]:
        """Ship elsewhere; an open address_rejected exception closes with it."""
        state = self._state
        state.ship_to = req.ship_to
        detail = f"{req.ship_to.city}, {req.ship_to.country}. {req.note}".strip()
        entries = [state.note(now, "address_changed", detail, req.actor)]
        exceptions = []
        for exception in state.exceptions:
            if exception.is_open and exception.kind is ExceptionKind.ADDRESS_REJECTED:
                entries.append(state.close(now, exception, Action.CHANGE_ADDRESS, req.actor, req.note))
                exceptions.append(exception)
        return entries, exceptions

    def check_approve(self, req: ControlRequest) -> None:
        state = self._state
        if not state.awaiting_approval or state.approved is not None:
            raise rejected("the order is not waiting for approval")

    def approve(self, now: datetime, req: ControlRequest) -> tuple[list[KeyedEntry], list[OrderException]]:
        state = self._state
        state.approved = True
        state.awaiting_approval = False
        overdue = [e for e in state.exceptions if e.is_open and e.kind is ExceptionKind.APPROVAL_OVERDUE]
        entries = [state.note(now, "approved", req.note, req.actor)]
        entries += [state.close(now, e, Action.RETRY, req.actor, "approved") for e in overdue]
        return entries, overdue

    def reject(self, now: datetime, req: ControlRequest) -> KeyedEntry:
        state = self._state
        # The cancel is requested at once, so the order cannot slip on to allocation.
        state.cancel = CancelRequest(f"rejected: {req.note}".rstrip(": "), req.actor)
        state.approved = False
        state.awaiting_approval = False
        return state.note(now, "rejected", req.note, req.actor)
