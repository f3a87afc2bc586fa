"""Starting the workflows that run on their own once started: Restock, InboundNotice, ImportBatch,
WebhookDelivery, and a Forecast run asked for by hand.

Each workflow ID comes from the business identity of what it handles (`domain.contract`), with
`REJECT_DUPLICATE`: a second start of the same thing is refused by Temporal, and here answered as
"already started" rather than as an error.
"""

import contextlib
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from domain.contract import (
    WorkflowType,
    delivery_workflow_id,
    forecast_workflow_id,
    import_workflow_id,
    inbound_notice_workflow_id,
    restock_workflow_id,
)
from domain.events import DeliverWebhook
from domain.foresight import ForecastRun
from domain.imports import ImportBatch
from domain.inbound_eta import InboundNotice
from domain.steps import Restock
from gateway.errors import Unavailable


async def start_restock(temporal: Client, task_queue: str, restock: Restock) -> str:
    """Start the restock that wakes the orders waiting for its SKUs; its workflow ID. The same source
    (a receipt sent again) starts nothing new."""
    workflow_id = restock_workflow_id(restock.source)
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await temporal.start_workflow(
            WorkflowType.RESTOCK,
            restock,
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    return workflow_id


async def start_inbound_notice(temporal: Client, task_queue: str, notice: InboundNotice, version: str) -> None:
    """Tell the orders waiting for the inbound's SKUs that it changed. The same change (`version`: when it
    was made) sent again starts nothing new."""
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await temporal.start_workflow(
            WorkflowType.INBOUND_NOTICE,
            notice,
            id=inbound_notice_workflow_id(notice.inbound_id, version),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )


async def start_import(temporal: Client, task_queue: str, batch: ImportBatch) -> None:
    """Start an import's batch; `Unavailable` when Temporal does not take it."""
    try:
        await temporal.start_workflow(
            WorkflowType.IMPORT_BATCH,
            batch,
            id=import_workflow_id(batch.import_id),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except RPCError as err:
        raise Unavailable("the import could not be started") from err


async def start_forecast(temporal: Client, task_queue: str, run: ForecastRun, run_at: str) -> str:
    """Start a forecasting run now; its workflow ID. `Unavailable` when Temporal does not take it."""
    workflow_id = forecast_workflow_id(run_at)
    try:
        await temporal.start_workflow(
            WorkflowType.FORECAST,
            run,
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except RPCError as err:
        raise Unavailable("the forecasting run could not be started") from err
    return workflow_id


async def start_delivery(
    temporal: Client, task_queue: str, delivery: DeliverWebhook, redelivery: int = 0
) -> WorkflowHandle[Any, Any] | None:
    """Start one event's delivery to one subscription; None when it was already started (by a relay
    before a crash, another relay, or a retried redelivery request)."""
    try:
        return await temporal.start_workflow(
            WorkflowType.WEBHOOK_DELIVERY,
            delivery,
            id=delivery_workflow_id(delivery.subscription_id, delivery.event_id, redelivery),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        return None
