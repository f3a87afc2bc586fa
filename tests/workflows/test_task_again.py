"""A workflow task handed out again after its local steps ran: the server never recorded the task's
completion (it timed out on a loaded machine, or failed), so the replay has none of those steps' markers
and runs every one of them again, after the later ones already did their work. The order must still
complete, with its stock moved once, one shipment and one invoice."""

from collections import Counter
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    StartLocalActivityInput,
    Worker,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from temporalio.workflow import ActivityHandle

from config import WarehouseMode
from domain.orders import OrderStatus
from store.tables import Invoice, Reservation, Shipment
from tests.conftest import settings_for, stock_up, unique
from tests.workflows.support import count, make_order, start, stock_of
from worker import build_activities
from workflows.order import OrderWorkflow

# Outside the workflow sandbox: what the test's interceptors saw, by workflow ID.
FAILED_ONCE: set[str] = set()
RUNS: Counter[tuple[str, str]] = Counter()


class TaskFailsOnceAt(Interceptor):
    """The first workflow task of each order that reaches `step` fails there, after the steps before it
    ran in that task; the server hands the task out again and its replay runs them again."""

    def __init__(self, step: str) -> None:
        self.step = step

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _CountRuns(next)

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        step = self.step

        class Outbound(WorkflowOutboundInterceptor):
            def start_local_activity(self, input: StartLocalActivityInput) -> ActivityHandle[Any]:
                workflow_id = self.info().workflow_id
                if input.activity == step and workflow_id not in FAILED_ONCE:
                    FAILED_ONCE.add(workflow_id)
                    raise RuntimeError("test: this workflow task fails, its local steps' markers are lost")
                return super().start_local_activity(input)

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

        return Inbound


class _CountRuns(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        RUNS[(info.workflow_id or "", info.activity_type)] += 1
        return await super().execute_activity(input)


async def test_an_order_whose_task_runs_again_after_shipping_completes(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    sku = unique("AGAIN")
    await stock_up(sessions, {sku: 2})  # exactly the order: none left once it ships
    settings = settings_for(sqlite_url, mode=WarehouseMode.AUTO, auto_pick_delay_seconds=0)
    async with Worker(
        time_skipping_env.client,
        task_queue=settings.task_queue,
        workflows=[OrderWorkflow],
        activities=build_activities(settings, sessions),
        interceptors=[TaskFailsOnceAt("issue_invoice")],
    ):
        handle = await start(time_skipping_env, settings, make_order({sku: 2}))
        result = await handle.result()

    # The task did run again: every step before the invoice ran twice, the second time after shipping.
    assert handle.id in FAILED_ONCE
    assert RUNS[(handle.id, "reserve_stock")] == 2 and RUNS[(handle.id, "book_shipment")] == 2
    assert result.status is OrderStatus.COMPLETED
    assert [e.event for e in result.timeline].count("backordered") == 0
    assert await stock_of(sessions, sku) == (0, 0)
    assert await count(sessions, Shipment, result.order_id) == 1
    assert await count(sessions, Invoice, result.order_id) == 1
    assert await count(sessions, Reservation, result.order_id) == 1
