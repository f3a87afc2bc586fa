"""Requesting returns and acting on them: the only place the API talks to return workflows."""

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.ordering import NO_LIVE_VIEW, QUERY_TIMEOUT, UPDATE_TIMEOUT
from api.problems import ProblemError, invalid, not_found
from config import Settings
from domain.contract import ErrorType, Query, WorkflowType, return_workflow_id
from domain.returns import NewReturn, ReturnLine, ReturnView
from store import returns
from store.tables import OrderRow


async def request(
    temporal: Client,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    order_id: str,
    lines: list[ReturnLine],
    note: str,
    actor: str,
) -> str:
    """Record the return (its lines checked against what shipped, within the window, and not already on
    another return), then start its workflow. 422 names the line at fault."""
    return_id = returns.new_return_id()
    async with sessions.begin() as s:
        order = await s.get(OrderRow, order_id)
        if order is None:
            raise not_found(f"order {order_id}")
        new = NewReturn(return_id, order_id, order.currency, lines, note, actor, settings.return_policy())
        problems = await returns.create(s, new, timedelta(days=settings.return_window_days))
        if problems:
            raise invalid(problems)
    await temporal.start_workflow(
        WorkflowType.RETURN.value,
        new,
        id=return_workflow_id(return_id),
        task_queue=settings.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    return return_id


async def live_view(temporal: Client, return_id: str) -> ReturnView | None:
    handle = temporal.get_workflow_handle(return_workflow_id(return_id))
    try:
        view: ReturnView = await handle.query(
            Query.RETURN_VIEW.value, result_type=ReturnView, rpc_timeout=QUERY_TIMEOUT
        )
        return view
    except RPCError as err:
        if err.status in NO_LIVE_VIEW:
            return None
        raise


async def control(
    temporal: Client,
    sessions: async_sessionmaker[AsyncSession],
    return_id: str,
    update: str,
    request: object,
    update_id: str | None = None,
) -> ReturnView:
    """A person's (or the warehouse's) request to the return, as an update; a refusal becomes 409."""
    handle = temporal.get_workflow_handle(return_workflow_id(return_id))
    try:
        view: ReturnView = await handle.execute_update(
            update, request, id=update_id or str(uuid.uuid4()), result_type=ReturnView, rpc_timeout=UPDATE_TIMEOUT
        )
        return view
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type == ErrorType.REJECTED:
            raise ProblemError(409, "Request does not apply", cause.message) from None
        raise
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise ProblemError(
            503, "No worker answered", "no worker took the request in time; check the return before sending it again"
        ) from None
    except RPCError as err:
        if err.status is not RPCStatusCode.NOT_FOUND:
            raise
    async with sessions() as s:
        recorded = await returns.get(s, return_id)
    if recorded is None:
        raise not_found(f"return {return_id}")
    raise ProblemError(409, "Request does not apply", f"the return is {recorded.status}; its workflow has finished")
