"""Inbound for some SKUs was announced, moved or closed: every order backordered on one of them is told,
and reads for itself what is now expected (workflows/order/inbound.py). Nobody waits for an answer."""

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from activities.inventory import InventoryActivities
    from domain.contract import Signal, WorkflowType, order_workflow_id
    from domain.inbound_eta import InboundNotice
    from domain.steps import WaitingOrders


@workflow.defn(name=WorkflowType.INBOUND_NOTICE.value)
class InboundNoticeWorkflow:
    @workflow.run
    async def run(self, notice: InboundNotice) -> list[str]:
        waiting = await workflow.execute_activity_method(
            InventoryActivities.waiting_orders,
            WaitingOrders(notice.skus),
            start_to_close_timeout=timedelta(seconds=15),
        )
        told: list[str] = []
        for order_id in waiting:
            try:
                await workflow.get_external_workflow_handle(order_workflow_id(order_id)).signal(
                    Signal.INBOUND_CHANGED.value, notice.inbound_id
                )
            except FailureError:
                continue  # the order's workflow is gone
            told.append(order_id)
        return told
