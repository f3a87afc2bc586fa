"""One order, one workflow: confirm → (approve) → allocate → pick → ship → invoice → (delivery reports).

A business failure does not fail the workflow: the order parks in `needs_attention` with an open
exception, alerts a person, climbs an escalation ladder while nobody acts, and waits for a resolution
(an update). Holds, cancellation, address changes and approvals are updates too, each with a validator
so a request that does not apply is refused before it touches history.

This class conducts: the order's bookkeeping and its rules live in `domain.order_state.OrderState`,
the commands in `flow`, `fulfilment`, `delivery`, `attention` and `commands` beside it.
"""

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.contract import Query, Signal, Update, WorkflowType
    from domain.deliveries import ShipmentReport
    from domain.exceptions import Action
    from domain.order_changes import OrderChanges
    from domain.order_controls import OrderControls
    from domain.order_edits import EditOrder
    from domain.order_reports import CarrierReports
    from domain.order_state import OrderState
    from domain.orders import Step
    from domain.policy import NewOrder
    from domain.steps import (
        CancelRequest,
        ChangeAddress,
        ControlRequest,
        HoldRequest,
        OrderView,
        PickConfirmation,
        ResolveException,
    )

from workflows.order.attention import Attention
from workflows.order.commands import Cancelled, Commands, refusals_answered
from workflows.order.delivery import DeliveryTracking
from workflows.order.edit_rules import rules_after_edit
from workflows.order.flow import Flow
from workflows.order.inbound import InboundWatch
from workflows.order.promise import Promise

# Carrier reports name no person.
CARRIER = "carrier"
# Orders started before delivery tracking closed at `completed`; their histories must keep replaying.
AWAIT_DELIVERY = "await-delivery"


@workflow.defn(name=WorkflowType.ORDER.value)
class OrderWorkflow:
    @workflow.init
    def __init__(self, new: NewOrder) -> None:
        self._state = OrderState.received(new, workflow.now())
        self._controls = OrderControls(self._state)
        self._reports = CarrierReports(self._state)
        self._commands = Commands(self._state)
        self._attention = Attention(self._state, self._commands)
        self._flow = Flow(self._state, self._commands, self._attention)
        self._delivery = DeliveryTracking(self._state, self._commands)
        self._inbound = InboundWatch(self._state, self._commands, self._attention)
        self._promise = Promise(self._state, self._commands, self._attention)

    @workflow.run
    async def run(self, new: NewOrder) -> OrderView:
        state, flow = self._state, self._flow
        self._commands.publish()
        self._attention.spawn(self._promise.keep())
        try:
            await self._attention.step(Step.CONFIRM, flow.confirm)
            await flow.hold_by_rule()
            await self._attention.step(Step.APPROVE, flow.await_approval)
            state.to_allocate()
            await self._attention.step(Step.ALLOCATE, flow.allocate)
            while True:
                while state.waiting and not state.editing:
                    self._inbound.follow()
                    await self._attention.step(Step.ALLOCATE, flow.await_stock)
                await flow.fulfilled()
                # An edit reserves what it needs itself; it may leave new parts to fulfil or stock to wait for.
                await workflow.wait_condition(lambda: not state.editing)
                if not state.waiting and flow.all_fulfilled():
                    break
            skipped = state.completed(workflow.now())
            if skipped is not None:  # invoicing was skipped
                await self._commands.project([skipped])
            workflow.set_current_details(f"**Completed** · {len(state.fulfilments)} shipment(s)")
            if state.policy.local_steps or workflow.patched(AWAIT_DELIVERY):  # local steps came after it
                await self._delivery.await_reports()
        except Cancelled:
            await flow.stopped()
            await flow.compensate()
        state.done = True
        self._commands.publish()
        await flow.answer_restocks(state.restocks)
        await asyncio.gather(*self._attention.background)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.view()

    @workflow.query(name=Query.VIEW.value)
    def view(self) -> OrderView:
        return self._state.view()

    async def _answer(self, update: Update, actor: str, view: OrderView | None = None) -> OrderView:
        """An update's answer, once an update sent outside the API has its audit row."""
        await self._commands.audit_outside_api(update, actor)
        return view if view is not None else self.view()

    # ---- the warehouse ------------------------------------------------------------------------

    @workflow.signal(name=Signal.CONFIRM_PICK.value)
    def confirm_pick(self, confirmation: PickConfirmation) -> None:
        self._state.pick_confirmations.setdefault(confirmation.pick_list_id, confirmation)

    @workflow.signal(name=Signal.STOCK_ARRIVED.value)
    async def stock_arrived(self, restock_workflow_id: str) -> None:
        """A receipt brought stock this order waits for: try to allocate, then tell the receipt we did."""
        if self._state.takes_restock():
            self._state.restocks.append(restock_workflow_id)  # answered after the attempt
        else:
            await self._flow.answer_restocks([restock_workflow_id])

    @workflow.signal(name=Signal.INBOUND_CHANGED.value)
    def inbound_changed(self, inbound_id: str) -> None:
        """Inbound for a SKU this order waits for was announced, moved or closed: read it again."""
        self._state.inbound_nudges += 1

    # ---- the carrier, after shipping: handed over, delivered, failed ----------------------------

    @workflow.update(name=Update.SHIPMENT_HANDED_OVER.value)
    async def shipment_handed_over(self, report: ShipmentReport) -> OrderView:
        with refusals_answered():
            handed = self._reports.handed_over(workflow.now(), report)
        if handed is not None:
            fulfilment, entries = handed
            await self._delivery.record(fulfilment, "handed_to_carrier", report, entries)
        return await self._answer(Update.SHIPMENT_HANDED_OVER, CARRIER)

    @shipment_handed_over.validator
    def _validate_handed_over(self, report: ShipmentReport) -> None:
        with refusals_answered():
            self._reports.reportable(report.shipment_id)

    @workflow.update(name=Update.SHIPMENT_DELIVERED.value)
    async def shipment_delivered(self, report: ShipmentReport) -> OrderView:
        with refusals_answered():
            delivered = self._reports.delivered(workflow.now(), report)
        if delivered is not None:
            fulfilment, entries, failed = delivered
            await self._delivery.record(fulfilment, "delivered", report, entries, failed)
        return await self._answer(Update.SHIPMENT_DELIVERED, CARRIER)

    @shipment_delivered.validator
    def _validate_delivered(self, report: ShipmentReport) -> None:
        with refusals_answered():
            self._reports.reportable(report.shipment_id)

    @workflow.update(name=Update.DELIVERY_FAILED.value)
    async def delivery_failed(self, report: ShipmentReport) -> OrderView:
        """Opens a `delivery_failed` exception (one at a time per shipment): alert, escalation, queue."""
        with refusals_answered():
            opened = self._reports.delivery_failed(workflow.now(), report)
        if opened is not None:
            self._attention.attend(opened)
        return await self._answer(Update.DELIVERY_FAILED, CARRIER)

    @delivery_failed.validator
    def _validate_delivery_failed(self, report: ShipmentReport) -> None:
        with refusals_answered():
            self._reports.check_delivery_failed(report)

    # ---- people: resolve exceptions and control the order -------------------------------------

    @workflow.update(name=Update.RESOLVE_EXCEPTION.value)
    async def resolve_exception(self, req: ResolveException) -> OrderView:
        with refusals_answered():
            exception = self._state.exception(req.exception_id)
        if not exception.is_open:  # the same resolution again: it acted once already
            return self.view()
        if req.action is Action.CANCEL:
            # Compensation closes every open exception, this one included, with the cancel's reason.
            reason = req.note or f"cancelled on {exception.kind.value}"
            view = await self._flow.await_cancel(CancelRequest(reason, req.actor))
            return await self._answer(Update.RESOLVE_EXCEPTION, req.actor, view)
        with refusals_answered():
            entries = self._controls.resolve(workflow.now(), exception, req)
        ship_to = self._state.ship_to if req.ship_to else None
        await self._commands.project(entries, exceptions=[exception], ship_to=ship_to)
        return await self._answer(Update.RESOLVE_EXCEPTION, req.actor)

    @resolve_exception.validator
    def _validate_resolve(self, req: ResolveException) -> None:
        with refusals_answered():
            self._controls.check_resolve(req)

    @workflow.update(name=Update.CANCEL.value)
    async def cancel(self, req: CancelRequest) -> OrderView:
        return await self._answer(Update.CANCEL, req.actor, await self._flow.await_cancel(req))

    @cancel.validator
    def _validate_cancel(self, req: CancelRequest) -> None:
        with refusals_answered():
            self._controls.check_cancel(req)

    @workflow.update(name=Update.CANCEL_REMAINDER.value)
    async def cancel_remainder(self, req: CancelRequest) -> OrderView:
        return await self._answer(Update.CANCEL_REMAINDER, req.actor, await self._flow.cancel_remainder(req))

    @cancel_remainder.validator
    def _validate_cancel_remainder(self, req: CancelRequest) -> None:
        with refusals_answered():
            OrderChanges(self._state).check_cancel_remainder(req)

    @workflow.update(name=Update.EDIT_ORDER.value)
    async def edit_order(self, req: EditOrder) -> OrderView:
        await self._flow.edit(req)
        await rules_after_edit(self._state, self._commands, self._attention, req)
        return await self._answer(Update.EDIT_ORDER, req.actor)

    @edit_order.validator
    def _validate_edit_order(self, req: EditOrder) -> None:
        with refusals_answered():
            OrderChanges(self._state).check_edit(req, workflow.now())

    @workflow.update(name=Update.HOLD.value)
    async def hold(self, req: HoldRequest) -> OrderView:
        entry = self._controls.put_on_hold(workflow.now(), req)
        if req.until is not None:
            self._attention.spawn(self._attention.expire_hold(req))
        await self._commands.project([entry])
        return await self._answer(Update.HOLD, req.actor)

    @hold.validator
    def _validate_hold(self, req: HoldRequest) -> None:
        with refusals_answered():
            self._controls.check_hold(req, workflow.now())

    @workflow.update(name=Update.RELEASE.value)
    async def release(self, req: ControlRequest) -> OrderView:
        await self._commands.project([self._controls.release(workflow.now(), req.note, req.actor)])
        return await self._answer(Update.RELEASE, req.actor)

    @release.validator
    def _validate_release(self, req: ControlRequest) -> None:
        with refusals_answered():
            self._controls.check_release(req)

    @workflow.update(name=Update.CHANGE_ADDRESS.value)
    async def change_address(self, req: ChangeAddress) -> OrderView:
        entries, closed = self._controls.change_address(workflow.now(), req)
        await self._commands.project(entries, exceptions=closed, ship_to=req.ship_to)
        return await self._answer(Update.CHANGE_ADDRESS, req.actor)

    @change_address.validator
    def _validate_change_address(self, req: ChangeAddress) -> None:
        with refusals_answered():
            self._controls.check_change_address(req)

    @workflow.update(name=Update.APPROVE.value)
    async def approve(self, req: ControlRequest) -> OrderView:
        entries, overdue = self._controls.approve(workflow.now(), req)
        await self._commands.project(entries, exceptions=overdue)
        return await self._answer(Update.APPROVE, req.actor)

    @approve.validator
    def _validate_approve(self, req: ControlRequest) -> None:
        with refusals_answered():
            self._controls.check_approve(req)

    @workflow.update(name=Update.REJECT.value)
    async def reject(self, req: ControlRequest) -> OrderView:
        await self._commands.project([self._controls.reject(workflow.now(), req)])
        view = await self._flow.await_cancel(CancelRequest(f"rejected: {req.note}".rstrip(": "), req.actor))
        return await self._answer(Update.REJECT, req.actor, view)

    @reject.validator
    def _validate_reject(self, req: ControlRequest) -> None:
        with refusals_answered():
            self._controls.check_approve(req)
