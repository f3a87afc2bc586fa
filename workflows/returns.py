"""One return (RMA), one workflow: requested → approved (or declined) → received → refunded → closed.

Approval is a person's (an update) or the policy's. Nothing received within the window: the return
expires. Received: restocked units go back through the ledger and the refund is a credit note against
the order's invoices; not refunded within its SLA (the billing side down, say), a `return.refund_overdue`
alert goes to people, and the refund keeps being retried. A refund the invoices cannot cover, or one the
ERP rejects, is refused for good: the return rests `received` with a `refund_refused` alert.
"""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.returns import RefundReturn, RestockReturn, ReturnActivities
    from domain.contract import ErrorType, Query, Update, WorkflowType, restock_workflow_id
    from domain.return_state import ReturnState
    from domain.returns import (
        REFUNDED_DISPOSITIONS,
        Disposition,
        NewReturn,
        ReturnDecision,
        ReturnReceipt,
        ReturnStatus,
        ReturnView,
    )
    from domain.steps import Restock, StockLine

from workflows.order.commands import PROJECTION_RETRY, PROJECTION_TIMEOUT, refusals_answered, within

# The billing side may be down for a while: keep trying (the SLA alert tells people), unless it refuses.
REFUND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=10),
    non_retryable_error_types=[ErrorType.REFUND_REFUSED.value],
)
# A refund that will not go through by retrying: beyond what was billed, or the ERP said no (or answered
# what we cannot read). The return rests `received` with a `refund_refused` alert for a person.
REFUSALS = (ErrorType.REFUND_REFUSED, ErrorType.PARTNER_REJECTED, ErrorType.PARTNER_BROKE_CONTRACT)


@workflow.defn(name=WorkflowType.RETURN.value)
class ReturnWorkflow:
    @workflow.init
    def __init__(self, new: NewReturn) -> None:
        self._new = new
        self._state = ReturnState.requested(new, workflow.now())
        self._writes = asyncio.Lock()  # one write at a time: the read model follows the return in order
        if new.policy.auto_approve:  # here, so a receipt arriving with the start finds it approved
            self._state.approve(workflow.now(), ReturnDecision("policy", "approved by policy"), self._label())

    @workflow.run
    async def run(self, new: NewReturn) -> ReturnView:
        state, policy = self._state, new.policy
        await self._record()
        window = timedelta(seconds=policy.receive_within_s)
        waiting = (ReturnStatus.REQUESTED, ReturnStatus.APPROVED)
        if not await within(window, lambda: state.status not in waiting):
            state.note(workflow.now(), ReturnStatus.EXPIRED, "expired", f"nothing received within {window}")
            await self._record()
        elif state.status is ReturnStatus.RECEIVED:
            await workflow.wait_condition(lambda: not self._writes.locked())  # the receipt is written
            await self._refund(timedelta(seconds=policy.refund_sla_s))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return state.view

    @workflow.query(name=Query.RETURN_VIEW.value)
    def view(self) -> ReturnView:
        return self._state.view

    @workflow.update(name=Update.APPROVE_RETURN.value)
    async def approve(self, decision: ReturnDecision) -> ReturnView:
        self._state.approve(workflow.now(), decision, self._label())
        await self._record()
        return self._state.view

    @approve.validator
    def _validate_approve(self, decision: ReturnDecision) -> None:
        with refusals_answered():
            self._state.check_decision()

    @workflow.update(name=Update.DECLINE_RETURN.value)
    async def decline(self, decision: ReturnDecision) -> ReturnView:
        self._state.decline(workflow.now(), decision)
        await self._record()
        return self._state.view

    @decline.validator
    def _validate_decline(self, decision: ReturnDecision) -> None:
        with refusals_answered():
            self._state.check_decision()

    @workflow.update(name=Update.RECEIVE_RETURN.value)
    async def receive(self, receipt: ReturnReceipt) -> ReturnView:
        state = self._state
        with refusals_answered():
            acts = state.check_receipt(receipt)
        if not acts:  # the same report again: it acted once already
            return state.view
        state.received(workflow.now(), receipt)
        restock = [
            StockLine(line.sku, line.quantity) for line in receipt.lines if line.disposition is Disposition.RESTOCK
        ]
        async with self._writes:
            await workflow.execute_activity_method(
                ReturnActivities.restock_return,
                RestockReturn(state.view, receipt.warehouse, receipt.report_id, restock),
                start_to_close_timeout=PROJECTION_TIMEOUT,
                retry_policy=PROJECTION_RETRY,
            )
        if restock:
            # Stock back on the shelf may be what other orders wait for: wake them as a receipt would.
            source = f"return-{state.view.return_id}-{receipt.report_id}"
            await workflow.start_child_workflow(
                WorkflowType.RESTOCK.value,
                Restock(source, receipt.warehouse, sorted({line.sku for line in restock})),
                id=restock_workflow_id(source),
                parent_close_policy=ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        return state.view

    @receive.validator
    def _validate_receive(self, receipt: ReturnReceipt) -> None:
        with refusals_answered():
            self._state.check_receipt(receipt)

    async def _refund(self, sla: timedelta) -> None:
        state = self._state
        units: dict[str, int] = {}
        for line in state.view.received:
            if line.disposition in REFUNDED_DISPOSITIONS:
                units[line.sku] = units.get(line.sku, 0) + line.quantity
        if not units:
            state.note(workflow.now(), ReturnStatus.CLOSED, "closed", "nothing arrived to refund")
            await self._record()
            return
        refund = asyncio.create_task(
            workflow.execute_activity_method(
                ReturnActivities.refund_return,
                RefundReturn(
                    state.view.return_id,
                    state.view.order_id,
                    self._new.currency,
                    [StockLine(sku, quantity) for sku, quantity in units.items()],
                ),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=REFUND_RETRY,
            )
        )
        if not await within(sla, refund.done):
            state.note(workflow.now(), ReturnStatus.RECEIVED, "refund_overdue", f"not refunded within {sla}")
            await self._record()
        try:
            refunded = await refund
        except ActivityError as err:
            cause = err.cause
            if not (isinstance(cause, ApplicationError) and cause.type in REFUSALS):
                raise
            state.note(workflow.now(), ReturnStatus.RECEIVED, "refund_refused", cause.message)
            await self._record()
            return
        state.view.credit_note, state.view.refunded = refunded.credit_note, refunded.amount
        state.note(workflow.now(), ReturnStatus.REFUNDED, "refunded", f"credit note {refunded.credit_note}")
        state.note(workflow.now(), ReturnStatus.CLOSED, "closed")
        await self._record()

    def _label(self) -> str:
        return f"{self._new.policy.carrier}-RET-{self._new.return_id}"

    async def _record(self) -> None:
        async with self._writes:
            await workflow.execute_activity_method(
                ReturnActivities.record_return,
                self._state.view,
                start_to_close_timeout=PROJECTION_TIMEOUT,
                retry_policy=PROJECTION_RETRY,
            )
