"""One order's bookkeeping while its workflow runs: where it stands and what may be done to it.

Pure: no Temporal, no I/O, no clock. The order's workflow holds one `OrderState`, passes the time in
(`workflow.now()`), and issues the commands (activities, timers, search attributes) the state calls for.
A request that does not apply raises `Refusal`; the workflow answers it as a non-retryable
`ApplicationError` of the refusal's `kind`.
"""

from dataclasses import dataclass, field
from datetime import datetime

from domain.contract import ErrorType
from domain.exceptions import Action, ExceptionKind, OrderException, allowed_actions
from domain.money import format_minor
from domain.orders import Address, Order, OrderLine, OrderStatus, Step, TimelineEntry
from domain.policy import NewOrder, OrderPolicy
from domain.steps import (
    Alert,
    AlertKind,
    CancelRequest,
    Fulfilment,
    HoldRequest,
    KeyedEntry,
    OrderView,
    PickConfirmation,
    StockLine,
    StockReserved,
    describe_missing,
)


class Refusal(Exception):
    """A request the order refuses as it stands; `kind` tells the caller which answer to give."""

    def __init__(self, kind: ErrorType, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def rejected(reason: str) -> Refusal:
    return Refusal(ErrorType.REJECTED, reason)


def stage(fulfilment: Fulfilment) -> str:
    """How far one fulfilment has come: allocated, picking, shipped or invoiced."""
    if fulfilment.invoice is not None:
        return "invoiced"
    if fulfilment.shipment is not None:
        return "shipped"
    return "picking" if fulfilment.pick_list is not None else "allocated"


@dataclass(frozen=True)
class Opened:
    """An exception just opened: its timeline entry and the alerts it raises, for the workflow to write."""

    exception: OrderException
    entry: KeyedEntry
    alerts: list[Alert]


@dataclass(eq=False)
class OrderState:
    order: Order
    policy: OrderPolicy
    lines: list[OrderLine]
    ship_to: Address
    timeline: list[TimelineEntry]
    allow_partial: bool
    progress: OrderStatus = OrderStatus.RECEIVED  # how far the order has come; `status` adds holds and exceptions
    exceptions: list[OrderException] = field(default_factory=list)
    # One fulfilment per planned shipment (a warehouse's share of the order).
    fulfilments: list[Fulfilment] = field(default_factory=list)
    allocation_reason: str = ""
    allocation_attempts: int = 0
    writes_made: int = 0
    waiting: list[StockLine] = field(default_factory=list)  # what is backordered
    waiting_since: datetime | None = None
    allocate_now: bool = False  # a person asked to try again
    restocks: list[str] = field(default_factory=list)  # receipts that asked us to try again, to answer when we have
    # Keyed by pick list: a confirmation may arrive before the workflow has seen its pick list.
    pick_confirmations: dict[str, PickConfirmation] = field(default_factory=dict)
    shipping: set[str] = field(default_factory=set)  # allocations handed to the carrier: no more cancel or re-address
    hold: HoldRequest | None = None
    cancel: CancelRequest | None = None
    editing: bool = False  # an edit is reserving what it needs
    remainder: CancelRequest | None = None  # what had not shipped was cancelled; the shipped part stays
    awaiting_approval: bool = False
    approved: bool | None = None
    warned: bool = False
    # Inbound stock for what is backordered (domain/order_inbound.py): nudges from inbound changes, the
    # last outlook written to the timeline, the open warning that it comes after ship-by.
    inbound_nudges: int = 0
    inbound_outlook: str = ""
    inbound_warning: OrderException | None = None
    done: bool = False
    # Delivery (partner callbacks): the order waits for the carrier's reports after it completes.
    awaiting_delivery: bool = False
    reports: set[str] = field(default_factory=set)  # partner event references acted on
    failed_deliveries: dict[str, str] = field(default_factory=dict)  # delivery_failed exception ID → shipment ID
    delivery_closed: bool = False  # the wait for delivery is over: reports go to the store directly

    @classmethod
    def received(cls, new: NewOrder, now: datetime) -> "OrderState":
        order = new.order
        timeline = [TimelineEntry(now, OrderStatus.RECEIVED, "received", order.summary())]
        if new.policy.rules:  # business rules that fired at submission (domain/rules.py)
            timeline.append(TimelineEntry(now, OrderStatus.RECEIVED, "rules", new.policy.rules_summary()))
        return cls(
            order=order,
            policy=new.policy,
            lines=list(order.lines),
            ship_to=order.ship_to,
            timeline=timeline,
            allow_partial=new.policy.allow_partial,
        )

    @property
    def order_id(self) -> str:
        return self.order.order_id

    @property
    def received_at(self) -> datetime:
        return self.timeline[0].at

    # ---- where the order stands ---------------------------------------------------------------

    def status(self, assume: tuple[Fulfilment, str] | None = None) -> OrderStatus:
        """The order's status; `assume` answers what it will be once that fulfilment reaches that stage."""
        if self.progress is OrderStatus.CANCELLED:
            return self.progress
        if self.progress in (OrderStatus.COMPLETED, OrderStatus.DELIVERED):
            # A failed delivery needs a person even though the order is done on our side.
            return OrderStatus.NEEDS_ATTENTION if self.delivery_trouble() else self.progress
        if any(e.is_open and e.blocking for e in self.exceptions):
            return OrderStatus.NEEDS_ATTENTION
        if self.hold is not None:
            return OrderStatus.ON_HOLD
        if self.awaiting_approval:
            return OrderStatus.AWAITING_APPROVAL
        stages = [assume[1] if assume and f is assume[0] else stage(f) for f in self.fulfilments if not f.cancelled]
        if self.waiting and all(s in ("shipped", "invoiced") for s in stages):
            return OrderStatus.BACKORDERED if self.waiting_since else self.progress
        if not stages:
            return self.progress
        if all(s == "invoiced" for s in stages):
            return OrderStatus.COMPLETED
        if all(s in ("shipped", "invoiced") for s in stages):
            return OrderStatus.SHIPPED
        if any(s == "picking" for s in stages):
            return OrderStatus.PICKING
        return OrderStatus.ALLOCATED

    @property
    def at_risk(self) -> bool:
        if self.all_shipped() or self.progress is OrderStatus.CANCELLED:
            return False
        late_inbound = self.inbound_warning is not None and self.inbound_warning.is_open
        return (
            self.warned
            or late_inbound
            or any(e.is_open and e.blocking and e.threatens_shipping for e in self.exceptions)
        )

    @property
    def has_open_exception(self) -> bool:
        return any(e.is_open for e in self.exceptions)

    def view(self) -> OrderView:
        order = self.order
        return OrderView(
            order_id=order.order_id,
            status=self.status(),
            order=order,
            total=order.total,
            ship_by=self.policy.ship_by,
            at_risk=self.at_risk,
            hold=self.hold,
            lines=list(self.lines),
            ship_to=self.ship_to,
            fulfilments=list(self.fulfilments),
            backordered=list(self.waiting) if self.waiting_since else [],
            allocation_reason=self.allocation_reason,
            exceptions=list(self.exceptions),
            timeline=list(self.timeline),
            rules=list(self.policy.rules),
            tags=list(self.policy.tags),
        )

    def current_step(self) -> Step:
        if self.fulfilments:
            return Step.PICK if any(f.shipment is None for f in self.fulfilments) else Step.ALLOCATE
        return Step.ALLOCATE if self.progress is OrderStatus.CONFIRMED else Step.CONFIRM

    def all_shipped(self) -> bool:
        # A fulfilment cancelled with the remainder is settled; one cancelled with the order is not shipped.
        return (
            bool(self.fulfilments)
            and not self.waiting
            and all(f.shipment or (f.cancelled and self.remainder is not None) for f in self.fulfilments)
        )

    def all_delivered(self) -> bool:
        shipped = [f for f in self.fulfilments if f.shipment is not None]
        return bool(shipped) and all(f.delivered_at is not None for f in shipped)

    def delivery_settled(self) -> bool:
        shipped = [f for f in self.fulfilments if f.shipment is not None]
        return all(f.delivered_at is not None or f.returned for f in shipped)

    def delivery_exceptions(self, shipment_id: str | None = None) -> list[OrderException]:
        """Open delivery_failed exceptions (of one shipment)."""
        return [
            e
            for e in self.exceptions
            if e.is_open
            and e.exception_id in self.failed_deliveries
            and shipment_id in (None, self.failed_deliveries[e.exception_id])
        ]

    def delivery_trouble(self) -> bool:
        return bool(self.failed_deliveries) and bool(self.delivery_exceptions())

    def takes_restock(self) -> bool:
        """Whether a receipt's stock is tried now (backordered, still running) or just answered."""
        return bool(self.waiting_since) and self.cancel is None and not self.done

    # ---- the record: timeline, alerts, read-model writes ----------------------------------------

    def note(self, now: datetime, event: str, detail: str = "", actor: str = "system") -> KeyedEntry:
        """Add to the timeline; the entry comes back keyed, for writes that are not a step's own."""
        entry = TimelineEntry(now, self.status(), event, detail, actor)
        self.timeline.append(entry)
        return KeyedEntry(f"wf:{len(self.timeline) - 1}", entry)

    def alert(
        self, now: datetime, alert_id: str, kind: str, message: str, exception: OrderException | None = None
    ) -> Alert:
        return Alert(
            alert_id=alert_id,
            kind=kind,
            order_id=self.order_id,
            message=message,
            raised_at=now,
            level=exception.escalation_level if exception else 0,
            exception_id=exception.exception_id if exception else None,
        )

    def next_seq(self) -> int:
        """Numbers the workflow's writes to the read model, in the order they are made."""
        self.writes_made += 1
        return self.writes_made

    # ---- exceptions ---------------------------------------------------------------------------

    def open(self, now: datetime, step: Step, kind: ExceptionKind, message: str) -> Opened:
        """Record an exception, with its timeline entry and the alerts it raises."""
        exception = OrderException(
            exception_id=f"{self.order_id}-EX{len(self.exceptions) + 1}",
            kind=kind,
            step=step,
            message=message,
            raised_at=now,
            allowed_actions=allowed_actions(kind, step, shipped=bool(self.shipping)),
        )
        self.exceptions.append(exception)
        entry = self.note(now, "exception_opened", f"{kind.value}: {message}")
        opened = AlertKind.EXCEPTION_OPENED if exception.blocking else AlertKind.SLA_AT_RISK
        alerts = [self.alert(now, f"{exception.exception_id}:opened", opened, message, exception)]
        if exception.blocking and exception.threatens_shipping and not self.warned and not self.all_shipped():
            alerts.append(
                self.alert(
                    now,
                    f"{exception.exception_id}:at-risk",
                    AlertKind.SLA_AT_RISK,
                    f"ship-by {self.policy.ship_by.isoformat()} at risk: blocked by {kind.value}",
                )
            )
        return Opened(exception, entry, alerts)

    def close(self, now: datetime, exception: OrderException, action: Action, actor: str, note: str) -> KeyedEntry:
        exception.resolved_at = now
        exception.resolution = action
        exception.resolved_by = actor
        exception.note = note
        return self.note(now, "exception_resolved", f"{exception.exception_id} {action.value} {note}".strip(), actor)

    def exception(self, exception_id: str) -> OrderException:
        for exception in self.exceptions:
            if exception.exception_id == exception_id:
                return exception
        raise Refusal(ErrorType.NOT_FOUND, f"exception {exception_id} is not on this order")

    def escalated(
        self, now: datetime, exception: OrderException, level: int, kind: str, what: str
    ) -> tuple[KeyedEntry, Alert]:
        """The exception climbed a rung of its ladder: its timeline entry and the alert to send."""
        exception.escalation_level = level
        message = f"{exception.kind.value} open since {exception.raised_at.isoformat()}: {what}"
        entry = self.note(now, kind, f"{exception.exception_id} {what}")
        return entry, self.alert(now, f"{exception.exception_id}:L{level}", kind, message, exception)

    def ask_approval(self, now: datetime) -> KeyedEntry | None:
        """The order waits for a person's approval; the entry to write when it starts waiting."""
        if self.awaiting_approval:
            return None
        self.awaiting_approval = True
        order = self.order
        total = f"{format_minor(order.total, order.currency)} {order.currency}"
        return self.note(now, "approval_requested", self.policy.approval_reason(total))

    # ---- the steps' outcomes ------------------------------------------------------------------

    def to_allocate(self) -> None:
        """Everything on the order waits to be allocated."""
        self.waiting = [StockLine(line.sku, line.quantity) for line in self.lines]

    def held_by_rule(self, now: datetime) -> HoldRequest | None:
        """The hold a business rule asked for, from confirmation until a person releases it or its hours
        pass; None when no rule asked (every order started before rules), or it would be over already."""
        policy = self.policy
        if policy.hold_reason is None or self.cancel is not None:
            return None
        if policy.hold_until is not None and policy.hold_until <= now:
            return None
        return HoldRequest(policy.hold_reason, "rules", policy.hold_until)

    def confirmed(self, now: datetime) -> None:
        self.progress = OrderStatus.CONFIRMED
        self.note(now, "confirmed")

    def allocated(self, now: datetime, result: StockReserved) -> list[Fulfilment]:
        """Record an allocation attempt; the fulfilments it planned come back, one per shipment."""
        self.allocation_reason = result.reason
        self.waiting = result.backordered
        self.waiting_since = (self.waiting_since or now) if self.waiting else None
        planned = [Fulfilment(allocation) for allocation in result.allocations]
        self.fulfilments.extend(planned)
        if result.allocations:
            detail = result.reason + (f"; waiting for {describe_missing(self.waiting)}" if self.waiting else "")
            self.note(now, "allocated", detail)
        else:
            self.note(now, "backordered", f"waiting for {describe_missing(self.waiting)}")
        return planned

    def picked(self, now: datetime, fulfilment: Fulfilment, pick_list_id: str) -> None:
        fulfilment.picked_at = now
        fulfilment.picked_by = self.pick_confirmations[pick_list_id].confirmed_by
        self.note(now, "picked", pick_list_id, fulfilment.picked_by)

    def handing_over(self, fulfilment: Fulfilment) -> None:
        """Goods are leaving: cancel is no longer on offer, on this order or its open exceptions."""
        self.shipping.add(fulfilment.allocation.allocation_id)
        for exception in self.exceptions:
            if exception.is_open:
                exception.allowed_actions = allowed_actions(exception.kind, exception.step, shipped=True)

    def handover_failed(self, fulfilment: Fulfilment) -> None:
        self.shipping.discard(fulfilment.allocation.allocation_id)  # nothing left the building

    def warnings_settled(self, now: datetime) -> tuple[list[KeyedEntry], list[OrderException]]:
        """Shipped in time after all: open warnings have done their job and close."""
        warning = [e for e in self.exceptions if e.is_open and not e.blocking]
        if not (warning and self.all_shipped()):
            return [], []
        return [self.close(now, e, Action.ACKNOWLEDGE, "system", "order shipped") for e in warning], warning

    def completed(self, now: datetime) -> KeyedEntry | None:
        """Every fulfilment is done; the entry to write when invoicing was skipped."""
        if self.progress is OrderStatus.COMPLETED:
            return None
        self.progress = OrderStatus.COMPLETED
        if any(f.invoice is None for f in self.fulfilments if not f.cancelled):
            return self.note(now, "completed", "invoice handled outside orderflow")
        return None

    def cancelled(self, now: datetime) -> tuple[list[KeyedEntry], list[OrderException]]:
        """Compensation: the order is cancelled, what has not shipped is dropped, open exceptions close."""
        assert self.cancel is not None
        self.progress = OrderStatus.CANCELLED
        self.waiting = []
        for fulfilment in self.fulfilments:
            fulfilment.cancelled = fulfilment.shipment is None
        closed = [e for e in self.exceptions if e.is_open]
        entries = [self.close(now, e, Action.CANCEL, self.cancel.actor, self.cancel.reason) for e in closed]
        entries.append(self.note(now, "cancelled", self.cancel.reason, self.cancel.actor))
        return entries, closed

    def released_skus(self) -> list[str]:
        """SKUs whose reserved stock a cancellation gave back."""
        return sorted({line.sku for f in self.fulfilments if f.cancelled for line in f.allocation.lines})

    # ---- the carrier's reports after shipping -------------------------------------------------

    def shipped(self, shipment_id: str) -> Fulfilment:
        for fulfilment in self.fulfilments:
            if fulfilment.shipment is not None and fulfilment.shipment.shipment_id == shipment_id:
                return fulfilment
        raise rejected(f"{shipment_id} has not shipped on this order (yet)")

    def awaiting_reports(self) -> bool:
        """Completed: the order now waits for the carrier's reports. True when every one came already."""
        self.awaiting_delivery = True
        if self.all_delivered():  # every report came before the invoices were done
            self.progress = OrderStatus.DELIVERED
            return True
        return False

    def undelivered(self) -> list[str]:
        """Shipments without a delivery report."""
        return [f.shipment.shipment_id for f in self.fulfilments if f.shipment and not f.delivered_at]
