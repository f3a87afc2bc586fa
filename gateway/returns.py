"""Return workflows from outside: start one, read its live view, hand it a person's or the warehouse's
request. Refusals come back as the gateway's typed errors (`gateway.errors`)."""

import uuid

from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from domain.contract import Query, Update, WorkflowType, return_workflow_id
from domain.returns import NewReturn, ReturnView
from gateway.errors import NoWorker, Unavailable, refusal
from gateway.orders import NO_WORKER, QUERY_TIMEOUT, UPDATE_TIMEOUT


class ReturnClosed(Exception):
    """No running workflow for the return: it has finished (or never started)."""


async def start(temporal: Client, task_queue: str, new: NewReturn) -> None:
    try:
        await temporal.start_workflow(
            WorkflowType.RETURN,
            new,
            id=return_workflow_id(new.return_id),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except RPCError as err:
        raise Unavailable("the return's workflow could not be started") from err


async def view(temporal: Client, return_id: str) -> ReturnView | None:
    """The workflow's own view; None when it has finished or no worker answers (the read model then)."""
    handle = temporal.get_workflow_handle(return_workflow_id(return_id))
    try:
        answer: ReturnView = await handle.query(Query.RETURN_VIEW, result_type=ReturnView, rpc_timeout=QUERY_TIMEOUT)
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND or err.status in NO_WORKER:
            return None
        raise
    return answer


async def control(
    temporal: Client, return_id: str, update: Update, request: object, update_id: str | None = None
) -> ReturnView:
    """A request to the return as an update. `Refused` when the workflow refuses it, `ReturnClosed` when
    its workflow has finished, `NoWorker` when no worker took it in time."""
    handle = temporal.get_workflow_handle(return_workflow_id(return_id))
    try:
        answer: ReturnView = await handle.execute_update(
            update, request, id=update_id or str(uuid.uuid4()), result_type=ReturnView, rpc_timeout=UPDATE_TIMEOUT
        )
    except WorkflowUpdateFailedError as err:
        raise refusal(err.cause) or err from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise NoWorker("no worker took the request in time; check the return before sending it again") from None
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            raise ReturnClosed(return_id) from None
        raise
    return answer
