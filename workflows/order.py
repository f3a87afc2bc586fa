"""One order, one workflow: confirm → allocate → pick → ship → invoice.

A business failure does not fail the workflow: the order parks in `needs_attention` with an open
exception and waits for a person.
"""

import contextlib
from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.billing import BillingActivities
    from activities.carrier import CarrierActivities
    from activities.inventory import InventoryActivities, describe_shortages
    from activities.orders import OrderActivities
    from activities.warehouse import WarehouseActivities
    from domain.orders import (
        ExceptionKind,
        Order,
        OrderException,
        OrderStatus,
        Step,
        TimelineEntry,
    )
    from domain.steps import (
        BookShipment,
        ConfirmOrder,
        CreatePickList,
        InvoiceIssued,
        IssueInvoice,
        OrderView,
        PickConfirmation,
        PickListCreated,
        RecordStatus,
        ReserveStock,
        ShipmentBooked,
        StockLine,
        StockReserved,
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
# Projection must land eventually; it has nobody to hand over to.
PROJECTION_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=5))

T = TypeVar("T")


@workflow.defn(name=attributes.ORDER_WORKFLOW)
class OrderWorkflow:
    @workflow.init
    def __init__(self, order: Order) -> None:
        self._order = order
        self._status = OrderStatus.RECEIVED
        self._timeline = [TimelineEntry(workflow.now(), OrderStatus.RECEIVED, "received", order.summary())]
        self._exceptions: list[OrderException] = []
        self._reservation: StockReserved | None = None
        self._pick_list: PickListCreated | None = None
        # Keyed by pick list: a confirmation may arrive before the workflow has seen its pick list.
        self._pick_confirmations: dict[str, PickConfirmation] = {}
        self._picked_at: datetime | None = None
        self._shipment: ShipmentBooked | None = None
        self._invoice: InvoiceIssued | None = None

    @workflow.query(name="view")
    def view(self) -> OrderView:
        return OrderView(
            order_id=self._order.order_id,
            status=self._status,
            order=self._order,
            total=self._order.total,
            reservation=self._reservation,
            pick_list=self._pick_list,
            picked_at=self._picked_at,
            shipment=self._shipment,
            invoice=self._invoice,
            exceptions=list(self._exceptions),
            timeline=list(self._timeline),
        )

    @workflow.signal(name="confirm_pick")
    def confirm_pick(self, confirmation: PickConfirmation) -> None:
        self._pick_confirmations.setdefault(confirmation.pick_list_id, confirmation)

    @workflow.run
    async def run(self, order: Order) -> OrderView:
        self._show_step(Step.CONFIRM, "checking lines against the catalog")
        confirmed = await self._step(
            Step.CONFIRM,
            workflow.execute_activity_method(
                OrderActivities.confirm_order,
                ConfirmOrder(order, self._timeline[0].at, self._next_exception_id()),
                start_to_close_timeout=timedelta(seconds=15),
                retry_policy=STEP_RETRY,
            ),
        )
        if confirmed is None:
            return self.view()
        if not confirmed.ok:
            return await self._park(ExceptionKind.ORDER_INVALID, Step.CONFIRM, "; ".join(confirmed.problems))
        self._advance(OrderStatus.CONFIRMED, "confirmed")

        self._show_step(Step.ALLOCATE, "reserving stock")
        lines = [StockLine(line.sku, line.quantity) for line in order.lines]
        reservation = await self._step(
            Step.ALLOCATE,
            workflow.execute_activity_method(
                InventoryActivities.reserve_stock,
                ReserveStock(order.order_id, lines, self._next_exception_id()),
                start_to_close_timeout=timedelta(seconds=15),
                retry_policy=STEP_RETRY,
            ),
        )
        if reservation is None:
            return self.view()
        if not reservation.ok:
            return await self._park(ExceptionKind.STOCK_SHORTAGE, Step.ALLOCATE, describe_shortages(reservation))
        self._reservation = reservation
        self._advance(OrderStatus.ALLOCATED, "allocated", f"stock reserved in {reservation.warehouse}")

        self._show_step(Step.PICK, "creating the pick list")
        pick_list = await self._step(
            Step.PICK,
            workflow.execute_activity_method(
                WarehouseActivities.create_pick_list,
                CreatePickList(order.order_id, reservation.warehouse, reservation.reserved),
                start_to_close_timeout=timedelta(seconds=15),
                retry_policy=STEP_RETRY,
            ),
        )
        if pick_list is None:
            return self.view()
        self._pick_list = pick_list
        self._advance(OrderStatus.PICKING, "pick_list_created", pick_list.pick_list_id)
        self._show_step(Step.PICK, f"waiting for the warehouse to confirm {pick_list.pick_list_id}")
        picked = await self._wait_for_pick(pick_list)
        self._picked_at = workflow.now()
        self._timeline.append(
            TimelineEntry(workflow.now(), OrderStatus.PICKING, "picked", pick_list.pick_list_id, picked.confirmed_by)
        )

        self._show_step(Step.SHIP, "booking the carrier")
        shipment = await self._step(
            Step.SHIP,
            workflow.execute_activity_method(
                CarrierActivities.book_shipment,
                BookShipment(
                    order.order_id,
                    reservation.warehouse,
                    pick_list.pick_list_id,
                    reservation.reserved,
                    order.ship_to,
                    self._picked_at,
                    picked.confirmed_by,
                ),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=STEP_RETRY,
            ),
        )
        if shipment is None:
            return self.view()
        self._shipment = shipment
        self._advance(OrderStatus.SHIPPED, "shipped", f"{shipment.carrier} {shipment.tracking_number}")

        self._show_step(Step.INVOICE, "issuing the invoice")
        invoice = await self._step(
            Step.INVOICE,
            workflow.execute_activity_method(
                BillingActivities.issue_invoice,
                IssueInvoice(order.order_id, order.total, order.currency),
                start_to_close_timeout=timedelta(seconds=15),
                retry_policy=STEP_RETRY,
            ),
        )
        if invoice is None:
            return self.view()
        self._invoice = invoice
        self._advance(OrderStatus.COMPLETED, "invoiced", invoice.number)
        workflow.set_current_details(f"**Completed** · invoice {invoice.number}")
        return self.view()

    async def _wait_for_pick(self, pick_list: PickListCreated) -> PickConfirmation:
        pick_list_id = pick_list.pick_list_id
        delay = pick_list.auto_confirm_after_seconds
        # In auto mode the built-in warehouse confirms by itself once the delay has passed.
        if delay != 0:
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: pick_list_id in self._pick_confirmations,
                    timeout=None if delay is None else timedelta(seconds=delay),
                )
        return self._pick_confirmations.setdefault(pick_list_id, PickConfirmation(pick_list_id, "warehouse:auto"))

    async def _step(self, step: Step, call: Awaitable[T]) -> T | None:
        """Run a step; when its retries are exhausted, open a `step_failed` exception and return None."""
        try:
            return await call
        except ActivityError as err:
            cause = err.cause or err
            await self._park(ExceptionKind.STEP_FAILED, step, str(cause))
            return None

    async def _park(self, kind: ExceptionKind, step: Step, message: str) -> OrderView:
        exception = OrderException(
            exception_id=self._next_exception_id(),
            kind=kind,
            step=step,
            message=message,
            raised_at=workflow.now(),
        )
        self._exceptions.append(exception)
        self._advance(OrderStatus.NEEDS_ATTENTION, "exception_opened", f"{kind.value}: {message}")
        if kind is ExceptionKind.STEP_FAILED:
            # Shortages and invalid orders were recorded by their own step; this one has no step write.
            await workflow.execute_activity_method(
                OrderActivities.record_status,
                RecordStatus(
                    self._order.order_id,
                    OrderStatus.NEEDS_ATTENTION,
                    exception.exception_id,
                    self._timeline[-1],
                    exception,
                ),
                start_to_close_timeout=timedelta(seconds=15),
                retry_policy=PROJECTION_RETRY,
            )
        self._show_step(step, f"waiting for a person: {kind.value}")
        await workflow.wait_condition(lambda: not exception.is_open)
        return self.view()

    def _advance(self, status: OrderStatus, event: str, detail: str = "", actor: str = "system") -> None:
        self._status = status
        self._timeline.append(TimelineEntry(workflow.now(), status, event, detail, actor))
        workflow.upsert_search_attributes([attributes.ORDER_STATUS.value_set(status.value)])
        workflow.logger.info("order %s: %s %s", self._order.order_id, status.value, detail)

    def _show_step(self, step: Step, what: str) -> None:
        workflow.set_current_details(f"**Step:** {step.value} — {what}\n\n**Status:** {self._status.value}")

    def _next_exception_id(self) -> str:
        return f"{self._order.order_id}-EX{len(self._exceptions) + 1}"
