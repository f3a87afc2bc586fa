"""A goods receipt wakes the orders waiting for its SKUs, one at a time: rush orders first, then the
oldest. Each order answers once it has tried to allocate, so stock goes to them in that order."""

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from activities.inventory import InventoryActivities
    from domain.contract import order_workflow_id
    from domain.steps import Restock, WaitingOrders

# An order that does not answer in this time (no worker, say) is passed over; it keeps its own timers.
ANSWER_TIMEOUT = timedelta(seconds=60)


@workflow.defn(name="Restock")
class RestockWorkflow:
    @workflow.init
    def __init__(self, restock: Restock) -> None:
        self._answered: set[str] = set()

    @workflow.signal(name="allocation_attempted")
    def allocation_attempted(self, order_id: str) -> None:
        self._answered.add(order_id)

    @workflow.run
    async def run(self, restock: Restock) -> list[str]:
        waiting = await workflow.execute_activity_method(
            InventoryActivities.waiting_orders,
            WaitingOrders(restock.skus),
            start_to_close_timeout=timedelta(seconds=15),
        )
        woken: list[str] = []

        def answered(order_id: str) -> Callable[[], bool]:
            return lambda: order_id in self._answered

        for order_id in waiting:
            try:
                await workflow.get_external_workflow_handle(order_workflow_id(order_id)).signal(
                    "stock_arrived", workflow.info().workflow_id
                )
            except FailureError:
                continue  # the order's workflow is gone
            woken.append(order_id)
            try:
                await workflow.wait_condition(answered(order_id), timeout=ANSWER_TIMEOUT)
            except TimeoutError:
                workflow.logger.warning("order %s did not answer; moving on", order_id)
        return woken
