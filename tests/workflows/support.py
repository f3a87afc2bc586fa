"""Helpers for workflow tests on the time-skipping server."""

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.testing import WorkflowEnvironment

from config import Settings
from domain.contract import Query, order_workflow_id
from domain.orders import Address, Customer, Order, OrderLine, OrderStatus
from domain.policy import NewOrder
from domain.steps import OrderView
from store.tables import Stock
from tests.conftest import unique
from workflows.order import OrderWorkflow

WorkerFactory = Callable[..., AbstractAsyncContextManager[Settings]]
OrderHandle = WorkflowHandle[OrderWorkflow, OrderView]

# Orders started by the current test; terminated after it (see conftest).
STARTED: list[OrderHandle] = []


def make_order(lines: dict[str, int], **changes: Any) -> Order:
    return Order(
        channel="web",
        external_id=unique("WF"),
        customer=Customer("C-1", "Li Wei", "li.wei@example.com"),
        ship_to=Address("Li Wei", "88 Century Ave", "Shanghai", "200120", "CN"),
        lines=[OrderLine(sku, qty, 1000) for sku, qty in lines.items()],
        currency="CNY",
        **changes,
    )


async def start(env: WorkflowEnvironment, settings: Settings, order: Order, **policy: Any) -> OrderHandle:
    """`policy`: fields of the order's policy to set, as business rules would (domain/rules.py)."""
    handle = await env.client.start_workflow(
        OrderWorkflow.run,
        NewOrder(order, replace(settings.order_policy(order, await env.get_current_time()), **policy)),
        id=order_workflow_id(order.order_id),
        task_queue=settings.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    STARTED.append(handle)
    return handle


async def count(sessions: async_sessionmaker[AsyncSession], table: Any, order_id: str) -> int:
    async with sessions() as s:
        query = select(func.count()).select_from(table).where(table.order_id == order_id)
        return int((await s.execute(query)).scalar_one())


async def stock_of(sessions: async_sessionmaker[AsyncSession], sku: str) -> tuple[int, int]:
    async with sessions() as s:
        row = await s.get(Stock, ("MAIN", sku))
        assert row is not None
        return row.on_hand, row.reserved


async def skip_until(
    env: WorkflowEnvironment, handle: OrderHandle, status: OrderStatus, step: timedelta, within: timedelta
) -> OrderView:
    """Move the test server's clock on in `step`s until the order reaches `status` (or `within` has passed).

    A step that keeps failing waits for each retry in a timer the workflow starts after the attempt before,
    so one long sleep fires only the first of them."""
    waited = timedelta(0)
    while True:
        view: OrderView = await handle.query(Query.VIEW, result_type=OrderView)
        if view.status is status or waited >= within:
            return view
        await env.sleep(step)
        waited += step
        await asyncio.sleep(0.2)  # in real time: the worker runs the attempt the timer let through
