"""The return workflow's timers, with days passing in milliseconds: nothing received within the window
expires the return; received and not refunded within the SLA alerts people (the refund keeps trying)."""

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.returns import Refunded, RefundReturn
from domain.contract import Update, return_workflow_id
from domain.returns import (
    Disposition,
    NewReturn,
    ReceivedLine,
    ReturnDecision,
    ReturnLine,
    ReturnReceipt,
    ReturnStatus,
    ReturnView,
)
from tests.conftest import settings_for
from worker import build_activities
from workflows.returns import ReturnWorkflow

ReturnHandle = WorkflowHandle[ReturnWorkflow, ReturnView]


@activity.defn(name="refund_return")
async def billing_down(req: RefundReturn) -> Refunded:
    raise ApplicationError("the ERP does not answer")  # retryable: the refund keeps being tried


@contextlib.asynccontextmanager
async def return_worker(
    env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession], **replace: Any
) -> AsyncIterator[str]:
    settings = settings_for(sqlite_url)
    activities = {a.__temporal_activity_definition.name: a for a in build_activities(settings, sessions)}
    activities.update(replace)
    async with Worker(
        env.client, task_queue=settings.task_queue, workflows=[ReturnWorkflow], activities=list(activities.values())
    ):
        yield settings.task_queue


async def start(env: WorkflowEnvironment, task_queue: str, auto_approve: bool = False) -> ReturnHandle:
    settings = settings_for("sqlite://", returns_auto_approve=auto_approve, return_receive_days=14)
    new = NewReturn(
        f"RMA-{uuid.uuid4().hex[:8]}", "web-W-1", "CNY", [ReturnLine("TEE", 1)], "", "test", settings.return_policy()
    )
    return await env.client.start_workflow(
        ReturnWorkflow.run, new, id=return_workflow_id(new.return_id), task_queue=task_queue
    )


async def test_a_return_nothing_arrives_for_expires_after_its_window(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    env = time_skipping_env
    async with return_worker(env, sqlite_url, sessions) as task_queue:
        handle = await start(env, task_queue)
        await handle.execute_update(Update.APPROVE_RETURN.value, ReturnDecision("alice"), result_type=ReturnView)
        await env.sleep(timedelta(days=13, hours=23))
        assert (await handle.query(ReturnWorkflow.view)).status is ReturnStatus.APPROVED
        await env.sleep(timedelta(hours=2))
        view = await handle.result()
    assert view.status is ReturnStatus.EXPIRED
    assert [e.event for e in view.events] == ["requested", "approved", "expired"]


async def test_a_received_return_not_refunded_within_its_sla_alerts_and_keeps_trying(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    env = time_skipping_env
    async with return_worker(env, sqlite_url, sessions, refund_return=billing_down) as task_queue:
        handle = await start(env, task_queue, auto_approve=True)
        receipt = ReturnReceipt("RCV-1", [ReceivedLine("TEE", 1, Disposition.DAMAGED)], "MAIN")
        await handle.execute_update(Update.RECEIVE_RETURN.value, receipt, result_type=ReturnView)
        await env.sleep(timedelta(hours=47))
        assert "refund_overdue" not in [e.event for e in (await handle.query(ReturnWorkflow.view)).events]
        await env.sleep(timedelta(hours=2))
        view = await handle.query(ReturnWorkflow.view)
        await handle.terminate("test over")
    assert view.status is ReturnStatus.RECEIVED
    assert [e.event for e in view.events] == ["requested", "approved", "received", "refund_overdue"]
    assert view.events[-1].detail == "not refunded within 2 days, 0:00:00"
