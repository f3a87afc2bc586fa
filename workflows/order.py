"""One order, one workflow: confirm → (approve) → allocate → pick → ship → invoice.

A business failure does not fail the workflow: the order parks in `needs_attention` with an open
exception, alerts a person, climbs an escalation ladder while nobody acts, and waits for a resolution
(an update). Holds, cancellation, address changes and approvals are updates too, each with a validator
so a request that does not apply is refused before it touches history.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributeUpdate, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.billing import BillingActivities
    from activities.carrier import ADDRESS_REJECTED, CarrierActivities
    from activities.deliveries import DeliveryActivities
    from activities.inventory import InventoryActivities, describe_missing
    from activities.orders import OrderActivities
    from activities.warehouse import WarehouseActivities
    from domain.deliveries import RecordDelivery, ShipmentReport
    from domain.exceptions import Action, ExceptionKind, OrderException, Problem, allowed_actions
    from domain.money import format_minor
    from domain.orders import OrderLine, OrderStatus, Priority, Step, TimelineEntry
    from domain.policy import NewOrder, warning_time
    from domain.steps import (
        Alert,
        AlertKind,
        BookShipment,
        CancelOrder,
        CancelRequest,
        ChangeAddress,
        ConfirmOrder,
        ControlRequest,
        CreatePickList,
        Fulfilment,
        HoldRequest,
        IssueInvoice,
        KeyedEntry,
        OrderView,
        PickConfirmation,
        ProjectOrder,
        ReserveStock,
        ResolveException,
        Restock,
        StockLine,
    )
    from workflows import attributes

# Transient trouble (database busy, a deploy) is retried with backoff for several minutes before the
# step is handed to a person as a `step_failed` exception.
STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=12,
)
# A carrier that rejects an address will reject it again: hand it to a person at once.
SHIP_RETRY = replace(STEP_RETRY, non_retryable_error_types=[ADDRESS_REJECTED])
# How a step's activity reports that it failed for good.
STEP_FAILED = (ActivityError, ApplicationError)
# Projection must land eventually; it has nobody to hand over to.
PROJECTION_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=5))
PROJECTION_TIMEOUT = timedelta(seconds=15)
# Orders started before delivery tracking closed at `completed`; their histories must keep replaying.
AWAIT_DELIVERY = "await-delivery"
# A step failing again waits for its next attempt in a durable timer, not in the worker: the order keeps
# answering queries and updates while a step backs off.
LOCAL_RETRY_THRESHOLD = timedelta(seconds=2)
# Statuses an order passes through while its steps run back to back (see `_publish`).
PASSING = frozenset(
    s.value
    for s in (
        OrderStatus.RECEIVED,
        OrderStatus.CONFIRMED,
        OrderStatus.ALLOCATED,
        OrderStatus.PICKING,
        OrderStatus.SHIPPED,
    )
)
# The search attributes the workflow keeps in step with the order, by the names `_publish` uses.
PUBLISHED: dict[str, SearchAttributeKey[Any]] = {
    "status": attributes.ORDER_STATUS,
    "has_open": attributes.HAS_OPEN_EXCEPTION,
    "at_risk": attributes.AT_RISK,
}
# What the search attributes of an order with local steps stand at when it starts: OrderStatus as the API
# starts it (activities/starting.py); HasOpenException and AtRisk unset until they first become true.
STARTED_WITH: dict[str, Any] = {"status": OrderStatus.RECEIVED.value, "has_open": False, "at_risk": False}


A = TypeVar("A")
R = TypeVar("R")


class Rejected(ApplicationError):
    """A request that does not apply to the order as it stands; the API answers 409 with the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, type="Rejected", non_retryable=True)


class DeliveryClosed(ApplicationError):
    """The order no longer waits for carrier reports: the API records them on the shipment directly."""

    def __init__(self) -> None:
        super().__init__("the order no longer waits for delivery reports", type="DeliveryClosed", non_retryable=True)


class UnknownException(ApplicationError):
    def __init__(self, exception_id: str) -> None:
        super().__init__(f"exception {exception_id} is not on this order", type="NotFound", non_retryable=True)


def _stage(fulfilment: Fulfilment) -> str:
    if fulfilment.invoice is not None:
        return "invoiced"
    if fulfilment.shipment is not None:
        return "shipped"
    return "picking" if fulfilment.pick_list is not None else "allocated"


class _Cancelled(Exception):
    """Unwinds the main flow to compensation."""


@workflow.defn(name=attributes.ORDER_WORKFLOW)
class OrderWorkflow:
    @workflow.init
    def __init__(self, new: NewOrder) -> None:
        received = workflow.now()
        order = new.order
        self._order = order
        self._policy = new.policy
        self._progress = OrderStatus.RECEIVED  # how far the order has come; `status` adds holds and exceptions
        self._lines = list(order.lines)
        self._ship_to = order.ship_to
        self._timeline = [TimelineEntry(received, OrderStatus.RECEIVED, "received", order.summary())]
        self._exceptions: list[OrderException] = []
        # One fulfilment per planned shipment (a warehouse's share of the order), each run by its own task.
        self._fulfilments: list[Fulfilment] = []
        self._fulfilling: list[asyncio.Task[None]] = []
        self._allocation_reason = ""
        self._allocation_attempts = 0
        self._writes_made = 0
        self._allow_partial = new.policy.allow_partial
        self._waiting: list[StockLine] = []  # what is backordered
        self._waiting_since: datetime | None = None
        self._allocate_now = False  # a person asked to try again
        self._restocks: list[str] = []  # receipts that asked us to try again, to answer when we have
        # Keyed by pick list: a confirmation may arrive before the workflow has seen its pick list.
        self._pick_confirmations: dict[str, PickConfirmation] = {}
        self._shipping: set[str] = set()  # allocations handed to the carrier: no more cancel or re-address
        self._hold: HoldRequest | None = None
        self._cancel: CancelRequest | None = None
        self._awaiting_approval = False
        self._approved: bool | None = None
        self._warned = False
        self._done = False
        # Delivery (partner callbacks): the order waits for the carrier's reports after it completes.
        self._awaiting_delivery = False
        self._reports: set[str] = set()  # partner event references acted on
        self._failed_deliveries: dict[str, str] = {}  # delivery_failed exception ID → shipment ID
        self._delivery_closed = False  # the wait for delivery is over: reports go to the store directly
        self._published: dict[str, Any] = {}
        # One writer at a time, so the read model never moves backwards.
        self._writes = asyncio.Lock()
        self._background: list[asyncio.Task[None]] = []

    # ---- what people see ----------------------------------------------------------------------

    @property
    def status(self) -> OrderStatus:
        return self._status()

    def _status(self, assume: tuple[Fulfilment, str] | None = None) -> OrderStatus:
        """The order's status; `assume` answers what it will be once that fulfilment reaches that stage."""
        if self._progress is OrderStatus.CANCELLED:
            return self._progress
        if self._progress in (OrderStatus.COMPLETED, OrderStatus.DELIVERED):
            # A failed delivery needs a person even though the order is done on our side.
            return OrderStatus.NEEDS_ATTENTION if self._delivery_trouble() else self._progress
        if any(e.is_open and e.blocking for e in self._exceptions):
            return OrderStatus.NEEDS_ATTENTION
        if self._hold is not None:
            return OrderStatus.ON_HOLD
        if self._awaiting_approval:
            return OrderStatus.AWAITING_APPROVAL
        stages = [assume[1] if assume and f is assume[0] else _stage(f) for f in self._fulfilments]
        if self._waiting and all(stage in ("shipped", "invoiced") for stage in stages):
            return OrderStatus.BACKORDERED if self._waiting_since else self._progress
        if not stages:
            return self._progress
        if all(stage == "invoiced" for stage in stages):
            return OrderStatus.COMPLETED
        if all(stage in ("shipped", "invoiced") for stage in stages):
            return OrderStatus.SHIPPED
        if any(stage == "picking" for stage in stages):
            return OrderStatus.PICKING
        return OrderStatus.ALLOCATED

    @property
    def at_risk(self) -> bool:
        if self._all_shipped() or self._progress is OrderStatus.CANCELLED:
            return False
        return self._warned or any(e.is_open and e.blocking and e.threatens_shipping for e in self._exceptions)

    @workflow.query(name="view")
    def view(self) -> OrderView:
        return OrderView(
            order_id=self._order.order_id,
            status=self.status,
            order=self._order,
            total=self._order.total,
            ship_by=self._policy.ship_by,
            at_risk=self.at_risk,
            hold=self._hold,
            lines=list(self._lines),
            ship_to=self._ship_to,
            fulfilments=list(self._fulfilments),
            backordered=list(self._waiting) if self._waiting_since else [],
            allocation_reason=self._allocation_reason,
            exceptions=list(self._exceptions),
            timeline=list(self._timeline),
        )

    # ---- the warehouse ------------------------------------------------------------------------

    @workflow.signal(name="confirm_pick")
    def confirm_pick(self, confirmation: PickConfirmation) -> None:
        self._pick_confirmations.setdefault(confirmation.pick_list_id, confirmation)

    @workflow.signal(name="stock_arrived")
    async def stock_arrived(self, restock_workflow_id: str) -> None:
        """A receipt brought stock this order waits for: try to allocate, then tell the receipt we did."""
        if self._waiting_since and self._cancel is None and not self._done:
            self._restocks.append(restock_workflow_id)  # answered after the attempt
        else:
            await self._answer_restocks([restock_workflow_id])

    # ---- the carrier, after shipping: handed over, delivered, failed ----------------------------

    @workflow.update(name="shipment_handed_over")
    async def shipment_handed_over(self, report: ShipmentReport) -> OrderView:
        fulfilment = self._shipped(report.shipment_id)
        if fulfilment.handed_over_at is None and self._first_time(report):
            fulfilment.handed_over_at = report.at
            entry = self._note("handed_to_carrier", report.shipment_id, report.actor)
            await self._record_delivery(fulfilment, "handed_to_carrier", report, [entry])
        return self.view()

    @shipment_handed_over.validator
    def _validate_handed_over(self, report: ShipmentReport) -> None:
        self._reportable(report.shipment_id)

    @workflow.update(name="shipment_delivered")
    async def shipment_delivered(self, report: ShipmentReport) -> OrderView:
        fulfilment = self._shipped(report.shipment_id)
        if fulfilment.delivered_at is not None or not self._first_time(report):
            return self.view()  # the same report again: it acted once already
        fulfilment.delivered_at = report.at
        fulfilment.received_by = report.detail or None
        fulfilment.returned = False
        failed = [
            e for e in self._delivery_exceptions() if self._failed_deliveries[e.exception_id] == report.shipment_id
        ]
        entries = [self._close(e, Action.RETRY, "system", "delivered after all") for e in failed]
        if self._awaiting_delivery and self._all_delivered():
            self._progress = OrderStatus.DELIVERED
        received = f" to {report.detail}" if report.detail else ""
        entries.append(self._note("delivered", f"{report.shipment_id}{received}", report.actor))
        await self._record_delivery(fulfilment, "delivered", report, entries, failed)
        return self.view()

    @shipment_delivered.validator
    def _validate_delivered(self, report: ShipmentReport) -> None:
        self._reportable(report.shipment_id)

    @workflow.update(name="delivery_failed")
    async def delivery_failed(self, report: ShipmentReport) -> OrderView:
        """Opens a `delivery_failed` exception (one at a time per shipment): alert, escalation, queue."""
        fulfilment = self._shipped(report.shipment_id)
        already = any(
            self._failed_deliveries[e.exception_id] == report.shipment_id for e in self._delivery_exceptions()
        )
        if fulfilment.delivered_at is None and not already and self._first_time(report):
            exception = self._open(
                Step.DELIVER, ExceptionKind.DELIVERY_FAILED, f"{report.shipment_id} not delivered: {report.detail}"
            )
            self._failed_deliveries[exception.exception_id] = report.shipment_id
        return self.view()

    @delivery_failed.validator
    def _validate_delivery_failed(self, report: ShipmentReport) -> None:
        fulfilment = self._reportable(report.shipment_id)
        if fulfilment.delivered_at is not None:
            raise Rejected(f"{report.shipment_id} was reported delivered at {fulfilment.delivered_at.isoformat()}")

    # ---- people: resolve exceptions and control the order -------------------------------------

    @workflow.update(name="resolve_exception")
    async def resolve_exception(self, req: ResolveException) -> OrderView:
        exception = self._exception(req.exception_id)
        if not exception.is_open:  # the same resolution again: it acted once already
            return self.view()
        if req.action is Action.CANCEL:
            # Compensation closes every open exception, this one included, with the cancel's reason.
            return await self._await_cancel(
                CancelRequest(req.note or f"cancelled on {exception.kind.value}", req.actor)
            )
        entries = [self._close(exception, req.action, req.actor, req.note)]
        if req.action is Action.CHANGE_ADDRESS and req.ship_to is not None:
            self._ship_to = req.ship_to
            entries.append(self._note("address_changed", f"{req.ship_to.city}, {req.ship_to.country}", req.actor))
        if exception.kind is ExceptionKind.DELIVERY_FAILED and req.action is Action.ACKNOWLEDGE:
            # Settled outside (returned to sender): the order stops waiting for this shipment.
            shipment_id = self._failed_deliveries[exception.exception_id]
            self._shipped(shipment_id).returned = True
        if exception.kind is ExceptionKind.STOCK_SHORTAGE and req.action in (Action.RETRY, Action.SHIP_AVAILABLE):
            self._allocate_now = True
            self._allow_partial = self._allow_partial or req.action is Action.SHIP_AVAILABLE
        await self._project(entries, exceptions=[exception], ship_to=self._ship_to if req.ship_to else None)
        return self.view()

    @resolve_exception.validator
    def _validate_resolve(self, req: ResolveException) -> None:
        exception = self._exception(req.exception_id)
        if not exception.is_open:
            if exception.resolution is req.action:
                return
            raise Rejected(f"{exception.exception_id} was already resolved with {exception.resolution}")
        if req.action not in exception.allowed_actions:
            allowed = ", ".join(a.value for a in exception.allowed_actions)
            raise Rejected(f"{req.action.value} does not apply to {exception.kind.value}; allowed: {allowed}")
        if req.action is Action.CANCEL:
            self._validate_cancel(CancelRequest(req.note, req.actor))
        if req.action is Action.CHANGE_ADDRESS:
            if req.ship_to is None:
                raise Rejected("change_address needs the new address in ship_to")
            self._validate_change_address(ChangeAddress(req.ship_to, req.actor))

    @workflow.update(name="cancel")
    async def cancel(self, req: CancelRequest) -> OrderView:
        return await self._await_cancel(req)

    @cancel.validator
    def _validate_cancel(self, req: CancelRequest) -> None:
        if self._progress in (OrderStatus.COMPLETED, OrderStatus.DELIVERED, OrderStatus.CANCELLED):
            raise Rejected(f"the order is {self._progress.value}")
        if self._shipping:
            raise Rejected(
                "the order has shipped (or is being handed to the carrier); it can be returned, not cancelled"
            )
        if self._cancel is not None:
            raise Rejected("the order is being cancelled already")

    @workflow.update(name="hold")
    async def hold(self, req: HoldRequest) -> OrderView:
        self._hold = req
        until = f" until {req.until.isoformat()}" if req.until else ""
        entry = self._note("held", f"{req.reason}{until}", req.actor)
        if req.until is not None:
            self._spawn(self._expire_hold(req))
        await self._project([entry])
        return self.view()

    @hold.validator
    def _validate_hold(self, req: HoldRequest) -> None:
        self._require_open("held")
        if self._hold is not None:
            raise Rejected("the order is on hold already")
        if req.until is not None and req.until <= workflow.now():
            raise Rejected("a hold must end in the future")

    @workflow.update(name="release")
    async def release(self, req: ControlRequest) -> OrderView:
        self._hold = None
        await self._project([self._note("released", req.note, req.actor)])
        return self.view()

    @release.validator
    def _validate_release(self, req: ControlRequest) -> None:
        if self._hold is None:
            raise Rejected("the order is not on hold")

    @workflow.update(name="change_address")
    async def change_address(self, req: ChangeAddress) -> OrderView:
        self._ship_to = req.ship_to
        entry = self._note(
            "address_changed", f"{req.ship_to.city}, {req.ship_to.country}. {req.note}".strip(), req.actor
        )
        entries = [entry]
        exceptions = []
        for exception in self._exceptions:
            if exception.is_open and exception.kind is ExceptionKind.ADDRESS_REJECTED:
                entries.append(self._close(exception, Action.CHANGE_ADDRESS, req.actor, req.note))
                exceptions.append(exception)
        await self._project(entries, exceptions=exceptions, ship_to=req.ship_to)
        return self.view()

    @change_address.validator
    def _validate_change_address(self, req: ChangeAddress) -> None:
        self._require_open("re-addressed")
        if self._shipping:
            raise Rejected("the order has shipped; its address can no longer change")

    @workflow.update(name="approve")
    async def approve(self, req: ControlRequest) -> OrderView:
        self._approved = True
        self._awaiting_approval = False
        overdue = [e for e in self._exceptions if e.is_open and e.kind is ExceptionKind.APPROVAL_OVERDUE]
        entries = [self._note("approved", req.note, req.actor)]
        entries += [self._close(e, Action.RETRY, req.actor, "approved") for e in overdue]
        await self._project(entries, exceptions=overdue)
        return self.view()

    @approve.validator
    def _validate_approve(self, req: ControlRequest) -> None:
        if not self._awaiting_approval or self._approved is not None:
            raise Rejected("the order is not waiting for approval")

    @workflow.update(name="reject")
    async def reject(self, req: ControlRequest) -> OrderView:
        # The cancel is requested before anything awaits, so the order cannot slip on to allocation.
        self._cancel = CancelRequest(f"rejected: {req.note}".rstrip(": "), req.actor)
        self._approved = False
        self._awaiting_approval = False
        await self._project([self._note("rejected", req.note, req.actor)])
        return await self._await_cancel(CancelRequest(f"rejected: {req.note}".rstrip(": "), req.actor))

    @reject.validator
    def _validate_reject(self, req: ControlRequest) -> None:
        self._validate_approve(req)

    # ---- the flow -----------------------------------------------------------------------------

    @workflow.run
    async def run(self, new: NewOrder) -> OrderView:
        self._publish()
        self._spawn(self._keep_promise())
        try:
            await self._step(Step.CONFIRM, self._confirm)
            await self._step(Step.APPROVE, self._await_approval)
            self._waiting = [StockLine(line.sku, line.quantity) for line in self._lines]
            await self._step(Step.ALLOCATE, self._allocate)
            while self._waiting:
                await self._step(Step.ALLOCATE, self._await_stock)
            for outcome in await asyncio.gather(*self._fulfilling, return_exceptions=True):
                if isinstance(outcome, BaseException):
                    raise outcome
            if self._progress is not OrderStatus.COMPLETED:
                self._progress = OrderStatus.COMPLETED
                if any(f.invoice is None for f in self._fulfilments):  # invoicing was skipped
                    await self._project([self._note("completed", "invoice handled outside orderflow")])
            workflow.set_current_details(f"**Completed** · {len(self._fulfilments)} shipment(s)")
            if self._policy.local_steps or workflow.patched(AWAIT_DELIVERY):  # local steps came after it
                await self._await_delivery()
        except _Cancelled:
            await asyncio.gather(*self._fulfilling, return_exceptions=True)  # every branch stops at its checkpoint
            await self._compensate()
        self._done = True
        self._publish()
        await self._answer_restocks(self._restocks)
        await asyncio.gather(*self._background)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.view()

    async def _fulfil(self, fulfilment: Fulfilment) -> None:
        """One planned shipment: its own pick list, parcel and invoice."""
        await self._step(Step.PICK, lambda: self._pick(fulfilment))
        await self._step(Step.SHIP, lambda: self._ship(fulfilment))
        await self._step(Step.INVOICE, lambda: self._issue_invoice(fulfilment))

    async def _step(self, step: Step, attempt: Callable[[], Awaitable[Problem | None]]) -> None:
        """Run a step until it is done, parking the order with each problem until a person resolves it."""
        while True:
            await self._checkpoint()
            self._show(step, "working")
            try:
                problem = await attempt()
            except STEP_FAILED as err:
                # A local activity whose retries ran out after a backoff timer raises its own error.
                cause = err.cause if isinstance(err, ActivityError) else err
                kind = ExceptionKind.STEP_FAILED
                if isinstance(cause, ApplicationError) and cause.type == ADDRESS_REJECTED:
                    kind = ExceptionKind.ADDRESS_REJECTED
                problem = Problem(kind, str(cause or err))
            if problem is None:
                return
            exception = await self._park(step, problem)
            if exception.resolution is Action.SKIP:
                await self._project([self._note("skipped", step.value, exception.resolved_by or "operations")])
                return

    async def _checkpoint(self) -> None:
        """Between steps: a cancel unwinds, a hold waits."""
        if self._hold is not None and self._cancel is None:
            self._show(None, f"on hold: {self._hold.reason}")
            await self._project([])  # the step just done wrote its own status; the order is on hold
            await workflow.wait_condition(lambda: self._hold is None or self._cancel is not None)
        if self._cancel is not None:
            raise _Cancelled

    async def _confirm(self) -> Problem | None:
        async with self._writes:
            confirmed = await self._execute(
                OrderActivities.confirm_order,
                ConfirmOrder(self._order, self._timeline[0].at, self._policy.ship_by, seq=self._next_seq()),
                start_to_close_timeout=timedelta(seconds=15),
                retry_policy=STEP_RETRY,
            )
        if not confirmed.ok:
            return Problem(ExceptionKind.ORDER_INVALID, "; ".join(confirmed.problems))
        self._progress = OrderStatus.CONFIRMED
        self._note("confirmed")
        self._publish()
        return None

    async def _await_approval(self) -> Problem | None:
        if self._approved is None and not self._policy.needs_approval(self._order.total):
            return None
        if self._approved is None:
            if not self._awaiting_approval:
                self._awaiting_approval = True
                total = f"{format_minor(self._order.total, self._order.currency)} {self._order.currency}"
                await self._project([self._note("approval_requested", f"total {total} is over the threshold")])
            self._show(Step.APPROVE, "waiting for a person to approve")
            decided = await self._within(
                timedelta(seconds=self._policy.approval_sla_s),
                lambda: self._approved is not None or self._cancel is not None,
            )
            if not decided:
                return Problem(
                    ExceptionKind.APPROVAL_OVERDUE,
                    f"no approval within {timedelta(seconds=self._policy.approval_sla_s)}",
                    clears=lambda: self._approved is not None,
                )
        return None

    async def _allocate(self) -> Problem | None:
        """Plan and reserve what is still unallocated; each planned shipment starts its own fulfilment."""
        self._allocation_attempts += 1
        async with self._writes:
            result = await self._execute(
                InventoryActivities.reserve_stock,
                ReserveStock(
                    self._order.order_id,
                    self._waiting,
                    self._ship_to,
                    rush=self._order.priority is Priority.RUSH,
                    received_at=self._timeline[0].at,
                    first_allocation=len(self._fulfilments) + 1,
                    attempt=self._allocation_attempts,
                    seq=self._next_seq(),
                    allow_split=self._policy.allow_split,
                    allow_partial=self._allow_partial,
                ),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=STEP_RETRY,
            )
        self._allocation_reason = result.reason
        self._waiting = result.backordered
        self._waiting_since = (self._waiting_since or workflow.now()) if self._waiting else None
        for allocation in result.allocations:
            fulfilment = Fulfilment(allocation)
            self._fulfilments.append(fulfilment)
            self._fulfilling.append(asyncio.create_task(self._fulfil(fulfilment)))
        if result.allocations:
            detail = result.reason + (f"; waiting for {describe_missing(self._waiting)}" if self._waiting else "")
            self._note("allocated", detail)
        else:
            waiting = f"waiting for {describe_missing(self._waiting)}"
            self._note("backordered", waiting)
        projected = OrderStatus.ALLOCATED if result.allocations else OrderStatus.BACKORDERED
        if self.status is not projected:  # other shipments of this order are further along
            await self._project([])
        self._publish()
        return None

    async def _await_stock(self) -> Problem | None:
        """Backordered: wait for a receipt (or a person), then try again; past the window, ask a person."""
        if not self._allocate_now and not self._restocks:
            assert self._waiting_since is not None
            deadline = self._waiting_since + timedelta(seconds=self._policy.backorder_window_s)
            self._show(Step.ALLOCATE, f"backordered: waiting for {describe_missing(self._waiting)}")
            arrived = await self._within(
                deadline - workflow.now(),
                lambda: bool(self._restocks) or self._allocate_now or self._cancel is not None,
            )
            if self._cancel is not None:
                raise _Cancelled
            if not arrived:
                window = timedelta(seconds=self._policy.backorder_window_s)
                return Problem(
                    ExceptionKind.STOCK_SHORTAGE,
                    f"no stock within {window} for {describe_missing(self._waiting)}",
                    clears=lambda: bool(self._restocks),
                )
        asked_by_person, self._allocate_now = self._allocate_now, False
        restocks, self._restocks = self._restocks, []
        await self._allocate()
        if asked_by_person and self._waiting:
            self._waiting_since = workflow.now()  # a fresh window after a person's retry
        await self._answer_restocks(restocks)
        return None

    async def _answer_restocks(self, restocks: list[str]) -> None:
        for restock in restocks:
            with contextlib.suppress(FailureError):  # that receipt stopped listening; nothing to tell
                await workflow.get_external_workflow_handle(restock).signal(
                    "allocation_attempted", self._order.order_id
                )

    async def _pick(self, fulfilment: Fulfilment) -> Problem | None:
        if fulfilment.pick_list is None:
            async with self._writes:
                fulfilment.pick_list = await self._execute(
                    WarehouseActivities.create_pick_list,
                    CreatePickList(
                        self._order.order_id,
                        fulfilment.allocation,
                        self._status((fulfilment, "picking")),
                        seq=self._next_seq(),
                    ),
                    start_to_close_timeout=timedelta(seconds=15),
                    retry_policy=STEP_RETRY,
                )
            where = f"{fulfilment.pick_list.pick_list_id} in {fulfilment.allocation.warehouse}"
            self._note("pick_list_created", where)
            self._publish()
        pick_list = fulfilment.pick_list
        pick_list_id = pick_list.pick_list_id
        self._show(Step.PICK, f"waiting for the warehouse to confirm {pick_list_id}")

        def picked() -> bool:
            return pick_list_id in self._pick_confirmations

        def picked_or_cancelled() -> bool:
            return picked() or self._cancel is not None

        if self._policy.local_steps and pick_list.auto_confirm_after_seconds != 0 and not picked():
            self._publish(resting=True)  # the order waits for the warehouse: findable as `picking`
        if pick_list.auto_confirm_after_seconds is not None:
            # The built-in warehouse in auto mode confirms by itself once the delay has passed.
            if pick_list.auto_confirm_after_seconds > 0:
                await self._within(timedelta(seconds=pick_list.auto_confirm_after_seconds), picked_or_cancelled)
            if self._cancel is None:
                self._pick_confirmations.setdefault(pick_list_id, PickConfirmation(pick_list_id, "warehouse:auto"))
        elif not await self._within(timedelta(seconds=self._policy.pick_sla_s), picked_or_cancelled):
            sla = timedelta(seconds=self._policy.pick_sla_s)
            return Problem(ExceptionKind.PICK_OVERDUE, f"{pick_list_id} not confirmed within {sla}", clears=picked)
        if self._cancel is not None:
            raise _Cancelled
        fulfilment.picked_at = workflow.now()
        fulfilment.picked_by = self._pick_confirmations[pick_list_id].confirmed_by
        self._note("picked", pick_list_id, fulfilment.picked_by)
        return None

    async def _ship(self, fulfilment: Fulfilment) -> Problem | None:
        assert fulfilment.pick_list is not None and fulfilment.picked_at is not None
        allocation_id = fulfilment.allocation.allocation_id
        self._shipping.add(allocation_id)
        for exception in self._exceptions:  # goods are leaving: cancel is no longer on offer
            if exception.is_open:
                exception.allowed_actions = allowed_actions(exception.kind, exception.step, shipped=True)
        try:
            async with self._writes:
                fulfilment.shipment = await self._execute(
                    CarrierActivities.book_shipment,
                    BookShipment(
                        self._order.order_id,
                        fulfilment.allocation,
                        fulfilment.pick_list.pick_list_id,
                        self._ship_to,
                        fulfilment.picked_at,
                        fulfilment.picked_by or "warehouse",
                        self._status((fulfilment, "shipped")),
                        seq=self._next_seq(),
                    ),
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=SHIP_RETRY,
                )
        except STEP_FAILED:
            self._shipping.discard(allocation_id)  # nothing left the building
            raise
        shipment = fulfilment.shipment
        detail = f"{shipment.shipment_id} {shipment.carrier} {shipment.tracking_number}"
        self._note("shipped", detail)
        self._publish()
        warning = [e for e in self._exceptions if e.is_open and not e.blocking]
        if warning and self._all_shipped():
            # Shipped in time after all: the warning has done its job.
            entries = [self._close(e, Action.ACKNOWLEDGE, "system", "order shipped") for e in warning]
            await self._project(entries, exceptions=warning)
        return None

    async def _issue_invoice(self, fulfilment: Fulfilment) -> Problem | None:
        assert fulfilment.shipment is not None
        prices = {line.sku: line.unit_price for line in self._order.lines}
        lines = [OrderLine(line.sku, line.quantity, prices[line.sku]) for line in fulfilment.allocation.lines]
        async with self._writes:
            fulfilment.invoice = await self._execute(
                BillingActivities.issue_invoice,
                IssueInvoice(
                    self._order.order_id,
                    fulfilment.allocation.allocation_id,
                    fulfilment.shipment.shipment_id,
                    sum(line.total for line in lines),
                    self._order.currency,
                    lines,
                    self._status((fulfilment, "invoiced")),
                    seq=self._next_seq(),
                ),
                start_to_close_timeout=timedelta(seconds=15),
                retry_policy=STEP_RETRY,
            )
        self._note("invoiced", fulfilment.invoice.number)
        self._publish()
        return None

    async def _await_delivery(self) -> None:
        """Completed: stay open for the carrier's reports until every shipment is delivered (status
        `delivered`) or settled, or the delivery window passes (`delivery_unconfirmed`, still `completed`).
        A failed delivery a person has not settled yet keeps the order open past the window."""
        if not any(f.shipment for f in self._fulfilments):
            return
        self._awaiting_delivery = True
        if self._all_delivered():  # every report came before the invoices were done
            self._progress = OrderStatus.DELIVERED
            await self._project([])
        else:
            self._show(Step.DELIVER, "waiting for the carrier to report delivery")
        window = timedelta(seconds=self._policy.delivery_window_s)
        settled = await self._within(window, self._delivery_settled)
        await workflow.wait_condition(lambda: not self._delivery_trouble())
        # From here on a report finds the order closed to reports, not a wait that is about to end.
        self._delivery_closed = True
        if self._progress is OrderStatus.DELIVERED:
            workflow.set_current_details(f"**Delivered** · {len(self._fulfilments)} shipment(s)")
        elif not settled and not self._delivery_settled():
            missing = [f.shipment.shipment_id for f in self._fulfilments if f.shipment and not f.delivered_at]
            detail = f"no delivery report within {window} for {', '.join(missing)}"
            await self._project([self._note("delivery_unconfirmed", detail)])
            workflow.set_current_details(f"**Completed** · delivery unconfirmed for {len(missing)} shipment(s)")

    def _reportable(self, shipment_id: str) -> Fulfilment:
        """The shipment a carrier report is about, while the order still takes reports."""
        if self._delivery_closed:
            raise DeliveryClosed()
        return self._shipped(shipment_id)

    def _shipped(self, shipment_id: str) -> Fulfilment:
        for fulfilment in self._fulfilments:
            if fulfilment.shipment is not None and fulfilment.shipment.shipment_id == shipment_id:
                return fulfilment
        raise Rejected(f"{shipment_id} has not shipped on this order (yet)")

    def _first_time(self, report: ShipmentReport) -> bool:
        """False for a partner event this order acted on already."""
        if report.ref in self._reports:
            return False
        if report.ref:
            self._reports.add(report.ref)
        return True

    def _all_delivered(self) -> bool:
        shipped = [f for f in self._fulfilments if f.shipment is not None]
        return bool(shipped) and all(f.delivered_at is not None for f in shipped)

    def _delivery_settled(self) -> bool:
        shipped = [f for f in self._fulfilments if f.shipment is not None]
        return all(f.delivered_at is not None or f.returned for f in shipped)

    def _delivery_exceptions(self, shipment_id: str | None = None) -> list[OrderException]:
        """Open delivery_failed exceptions (of one shipment)."""
        return [
            e
            for e in self._exceptions
            if e.is_open
            and e.exception_id in self._failed_deliveries
            and shipment_id in (None, self._failed_deliveries[e.exception_id])
        ]

    def _delivery_trouble(self) -> bool:
        return bool(self._failed_deliveries) and bool(self._delivery_exceptions())

    async def _record_delivery(
        self,
        fulfilment: Fulfilment,
        event: str,
        report: ShipmentReport,
        entries: list[KeyedEntry],
        exceptions: list[OrderException] | None = None,
    ) -> None:
        """Persist the report on the shipment, with its timeline entries and the status it brings."""
        assert fulfilment.shipment is not None
        self._publish()
        async with self._writes:
            await self._execute(
                DeliveryActivities.record_delivery,
                RecordDelivery(
                    fulfilment.shipment.shipment_id,
                    event,
                    report.at,
                    ProjectOrder(
                        self._order.order_id,
                        self.status,
                        entries,
                        exceptions or [],
                        at_risk=self.at_risk,
                        seq=self._next_seq(),
                    ),
                    received_by=fulfilment.received_by if event == "delivered" else None,
                ),
                start_to_close_timeout=PROJECTION_TIMEOUT,
                retry_policy=PROJECTION_RETRY,
            )

    async def _compensate(self) -> None:
        """Undo in reverse: the pick list, then the reservation; close what is open."""
        assert self._cancel is not None
        self._progress = OrderStatus.CANCELLED
        self._waiting = []
        for fulfilment in self._fulfilments:
            fulfilment.cancelled = fulfilment.shipment is None
        closed = [e for e in self._exceptions if e.is_open]
        entries = [self._close(e, Action.CANCEL, self._cancel.actor, self._cancel.reason) for e in closed]
        entries.append(self._note("cancelled", self._cancel.reason, self._cancel.actor))
        async with self._writes:
            await self._execute(
                OrderActivities.cancel_order,
                CancelOrder(
                    self._order.order_id,
                    self._cancel.reason,
                    ProjectOrder(
                        self._order.order_id,
                        OrderStatus.CANCELLED,
                        entries,
                        closed,
                        at_risk=False,
                        seq=self._next_seq(),
                    ),
                ),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=PROJECTION_RETRY,
            )
        workflow.set_current_details(f"**Cancelled** · {self._cancel.reason}")
        released = sorted({line.sku for f in self._fulfilments if f.cancelled for line in f.allocation.lines})
        if released:
            # Stock given back may be what other orders wait for: wake them as a receipt would.
            await workflow.start_child_workflow(
                "Restock",
                Restock(f"release-{self._order.order_id}", "", released),
                id=f"restock-release-{self._order.order_id}",
                parent_close_policy=ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )

    async def _await_cancel(self, req: CancelRequest) -> OrderView:
        self._cancel = req
        await workflow.wait_condition(lambda: self._progress is OrderStatus.CANCELLED and not self._writes.locked())
        return self.view()

    # ---- exceptions, escalation and the delivery promise --------------------------------------

    async def _park(self, step: Step, problem: Problem) -> OrderException:
        exception = self._open(step, problem.kind, problem.message)
        self._show(step, f"waiting for a person: {problem.kind.value}")
        await workflow.wait_condition(
            lambda: (
                not exception.is_open or self._cancel is not None or (problem.clears is not None and problem.clears())
            )
        )
        if exception.is_open and problem.clears is not None and problem.clears():
            await self._project([self._close(exception, Action.RETRY, "system", "cleared by itself")], [exception])
        if self._cancel is not None:
            raise _Cancelled
        return exception

    def _open(self, step: Step, kind: ExceptionKind, message: str) -> OrderException:
        """Open an exception: record it, alert the assignee, start its escalation ladder."""
        exception = OrderException(
            exception_id=self._next_exception_id(),
            kind=kind,
            step=step,
            message=message,
            raised_at=workflow.now(),
            allowed_actions=allowed_actions(kind, step, shipped=bool(self._shipping)),
        )
        self._exceptions.append(exception)
        entry = self._note("exception_opened", f"{kind.value}: {message}")
        opened = AlertKind.EXCEPTION_OPENED if exception.blocking else AlertKind.SLA_AT_RISK
        alerts = [self._alert(f"{exception.exception_id}:opened", opened, message, exception)]
        if exception.blocking and exception.threatens_shipping and not self._warned and not self._all_shipped():
            alerts.append(
                self._alert(
                    f"{exception.exception_id}:at-risk",
                    AlertKind.SLA_AT_RISK,
                    f"ship-by {self._policy.ship_by.isoformat()} at risk: blocked by {kind.value}",
                )
            )
        self._spawn(self._project([entry], [exception], alerts))
        self._spawn(self._escalate(exception))
        return exception

    async def _escalate(self, exception: OrderException) -> None:
        ladder = self._policy.ladder(exception.kind)
        rungs = (
            (1, ladder.remind_after_s, AlertKind.EXCEPTION_REMINDER, "reminder to the assignee"),
            (2, ladder.escalate_after_s, AlertKind.EXCEPTION_ESCALATED, "escalated to a manager"),
        )
        for level, after_s, kind, what in rungs:
            if await self._within(timedelta(seconds=after_s), lambda: not exception.is_open or self._done):
                return
            exception.escalation_level = level
            message = f"{exception.kind.value} open since {exception.raised_at.isoformat()}: {what}"
            await self._project(
                [self._note(kind, f"{exception.exception_id} {what}")],
                [exception],
                [self._alert(f"{exception.exception_id}:L{level}", kind, message, exception)],
            )

    async def _keep_promise(self) -> None:
        """Warn before the ship-by promise is in danger; record the breach if it is broken."""

        def settled() -> bool:
            return self._all_shipped() or self._done

        received, ship_by = self._timeline[0].at, self._policy.ship_by
        warn_at = warning_time(received, ship_by, timedelta(seconds=self._policy.warn_before_s))
        if await self._within(warn_at - workflow.now(), settled):
            return
        self._warned = True
        self._open(
            self._current_step(), ExceptionKind.SLA_AT_RISK, f"not shipped yet, due to ship by {ship_by.isoformat()}"
        )
        if await self._within(ship_by - workflow.now(), settled):
            return
        breach = f"ship-by {ship_by.isoformat()} passed without a shipment"
        await self._project(
            [self._note("sla_breached", breach)],
            alerts=[self._alert(f"{self._order.order_id}:breach", AlertKind.SLA_BREACHED, breach)],
        )

    async def _expire_hold(self, hold: HoldRequest) -> None:
        assert hold.until is not None
        if not await self._within(hold.until - workflow.now(), lambda: self._hold is not hold or self._done):
            self._hold = None
            await self._project([self._note("released", "hold expired")])

    def _close(self, exception: OrderException, action: Action, actor: str, note: str) -> KeyedEntry:
        exception.resolved_at = workflow.now()
        exception.resolution = action
        exception.resolved_by = actor
        exception.note = note
        return self._note("exception_resolved", f"{exception.exception_id} {action.value} {note}".strip(), actor)

    # ---- bookkeeping --------------------------------------------------------------------------

    async def _project(
        self,
        entries: list[KeyedEntry],
        exceptions: list[OrderException] | None = None,
        alerts: list[Alert] | None = None,
        ship_to: Any = None,
    ) -> None:
        """Write a workflow-side change to the read model, in the order the workflow made them."""
        self._publish()
        async with self._writes:
            await self._execute(
                OrderActivities.project_order,
                ProjectOrder(
                    self._order.order_id,
                    self.status,
                    entries,
                    exceptions or [],
                    alerts or [],
                    at_risk=self.at_risk,
                    ship_to=ship_to,
                    seq=self._next_seq(),
                ),
                start_to_close_timeout=PROJECTION_TIMEOUT,
                retry_policy=PROJECTION_RETRY,
            )

    def _note(self, event: str, detail: str = "", actor: str = "system") -> KeyedEntry:
        """Add to the timeline; the entry comes back keyed, for writes that are not a step's own."""
        entry = TimelineEntry(workflow.now(), self.status, event, detail, actor)
        self._timeline.append(entry)
        return KeyedEntry(f"wf:{len(self._timeline) - 1}", entry)

    def _alert(self, alert_id: str, kind: str, message: str, exception: OrderException | None = None) -> Alert:
        return Alert(
            alert_id=alert_id,
            kind=kind,
            order_id=self._order.order_id,
            message=message,
            raised_at=workflow.now(),
            level=exception.escalation_level if exception else 0,
            exception_id=exception.exception_id if exception else None,
        )

    def _publish(self, resting: bool = False) -> None:
        """Keep the search attributes operations filter on in step with the order.

        Each write is a visibility update on the server, the costliest command an order gives. So on orders
        with local steps a passing status (the steps running back to back) is not written: OrderStatus changes when
        the order comes to rest (`resting`: it waits for the warehouse; or it needs a person, is held,
        backordered, awaits approval), when it moves on from a rest, and when it ends. The workflow's
        current details and the read model show every status as it happens."""
        lean = self._policy.local_steps  # orders started before this rule write every change
        published = {**(STARTED_WITH if lean else {}), **self._published}
        current = {
            "status": self.status.value,
            "has_open": any(e.is_open for e in self._exceptions),
            "at_risk": self.at_risk,
        }
        passing = current["status"] in PASSING and published.get("status") in PASSING and not published.get("rest")
        if lean and passing and not resting:
            current["status"] = published["status"]
        updates: list[SearchAttributeUpdate[Any]] = [
            key.value_set(current[name]) for name, key in PUBLISHED.items() if published.get(name) != current[name]
        ]
        if updates:
            workflow.upsert_search_attributes(updates)
            self._published = {**current, "rest": resting}
            workflow.logger.info("order %s is %s", self._order.order_id, current["status"])

    async def _execute(
        self,
        activity: Callable[[Any, A], Awaitable[R]],
        arg: A,
        *,
        start_to_close_timeout: timedelta,
        retry_policy: RetryPolicy,
    ) -> R:
        """Run a step's activity. With `local_steps` (new orders, unless switched off) it is a local
        activity: the worker that runs the order runs the step at once, and its result is recorded in the
        order's history with the workflow task, without a round trip through the server's task queues.
        Retries, timeouts and the recorded result are the same; a worker that dies mid-step has the step
        run again, as before."""
        if self._policy.local_steps:
            return await workflow.execute_local_activity_method(
                activity,
                arg,
                start_to_close_timeout=start_to_close_timeout,
                retry_policy=retry_policy,
                local_retry_threshold=LOCAL_RETRY_THRESHOLD,
            )
        return await workflow.execute_activity_method(
            activity, arg, start_to_close_timeout=start_to_close_timeout, retry_policy=retry_policy
        )

    def _show(self, step: Step | None, what: str) -> None:
        heading = f"**Step:** {step.value} — {what}" if step else f"**{what}**"
        workflow.set_current_details(f"{heading}\n\n**Status:** {self.status.value}")

    def _current_step(self) -> Step:
        if self._fulfilments:
            return Step.PICK if any(f.shipment is None for f in self._fulfilments) else Step.ALLOCATE
        return Step.ALLOCATE if self._progress is OrderStatus.CONFIRMED else Step.CONFIRM

    def _all_shipped(self) -> bool:
        return bool(self._fulfilments) and not self._waiting and all(f.shipment for f in self._fulfilments)

    def _exception(self, exception_id: str) -> OrderException:
        for exception in self._exceptions:
            if exception.exception_id == exception_id:
                return exception
        raise UnknownException(exception_id)

    def _require_open(self, what: str) -> None:
        if self._progress in (OrderStatus.COMPLETED, OrderStatus.DELIVERED, OrderStatus.CANCELLED):
            raise Rejected(f"the order is {self._progress.value}; it cannot be {what}")
        if self._cancel is not None:
            raise Rejected("the order is being cancelled")

    def _next_seq(self) -> int:
        """Numbers the workflow's writes to the read model, in the order they are made."""
        self._writes_made += 1
        return self._writes_made

    def _next_exception_id(self) -> str:
        return f"{self._order.order_id}-EX{len(self._exceptions) + 1}"

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self._background.append(asyncio.create_task(work))

    @staticmethod
    async def _within(within: timedelta, condition: Callable[[], bool]) -> bool:
        """Wait up to `within` for `condition`; True if it came true."""
        if within <= timedelta(0):
            return condition()
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(condition, timeout=within)
        return condition()
