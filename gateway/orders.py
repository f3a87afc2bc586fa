"""Order workflows from the outside: start one, read its view, send it a person's or a partner's request.

The workflow ID is the order's identity and `REJECT_DUPLICATE` keeps it unique; the memo carries the
content's fingerprint, so a second start tells an identical resubmission from a conflicting one.
"""

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from config import Settings
from domain.contract import (
    CALLBACK_UPDATE_PREFIX,
    Query,
    SearchAttribute,
    Signal,
    Update,
    WorkflowType,
    api_update_id,
    order_workflow_id,
)
from domain.deliveries import ShipmentReport
from domain.money import format_minor
from domain.orders import Order, OrderStatus
from domain.policy import NewOrder
from domain.steps import OrderView, PickConfirmation
from gateway.errors import DeliveryClosed, NoWorker, OrderNotFound, Unavailable, refusal

# The attributes an order starts with; the workflow keeps them current from then on.
ORDER_STATUS = SearchAttributeKey.for_keyword(SearchAttribute.ORDER_STATUS)
CHANNEL = SearchAttributeKey.for_keyword(SearchAttribute.CHANNEL)
CUSTOMER_ID = SearchAttributeKey.for_keyword(SearchAttribute.CUSTOMER_ID)
ORDER_TOTAL = SearchAttributeKey.for_float(SearchAttribute.ORDER_TOTAL)

# A query needs a worker; with none answering, a caller can serve the read model instead of hanging.
QUERY_TIMEOUT = timedelta(seconds=3)
# How long a request may wait for a worker to take it before the caller is told so.
UPDATE_TIMEOUT = timedelta(seconds=15)

NO_WORKER = (
    RPCStatusCode.CANCELLED,  # our timeout ran out: the worker is busy with the order's steps
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.FAILED_PRECONDITION,  # the server has seen no worker polling the task queue lately
)


class Outcome(StrEnum):
    CREATED = "created"  # this call started the workflow
    EXISTING = "existing"  # the same content was started before
    CONFLICT = "conflict"  # the order ID was started before with different content


@dataclass(frozen=True)
class Started:
    outcome: Outcome
    status: OrderStatus
    import_id: str | None = None  # the import that started the existing workflow, from its memo


async def start(
    temporal: Client, settings: Settings, order: Order, import_id: str | None = None, new: NewOrder | None = None
) -> Started:
    """Start the order's workflow once. `order` is the order as submitted (its fingerprint tells a
    resubmission); `new` is the order and policy as the business rules made them (rules/engine.py),
    else settings alone decide. `import_id` goes into the memo, so a retried import step can recognise
    an order it started itself."""
    fingerprint = order.fingerprint()
    workflow_id = order_workflow_id(order.order_id)
    memo: dict[str, str] = {"fingerprint": fingerprint}
    if import_id is not None:
        memo["import_id"] = import_id
    try:
        await temporal.start_workflow(
            WorkflowType.ORDER,
            new or NewOrder(order, settings.order_policy(order, datetime.now(UTC))),
            id=workflow_id,
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(ORDER_STATUS, OrderStatus.RECEIVED.value),
                    SearchAttributePair(CHANNEL, order.channel),
                    SearchAttributePair(CUSTOMER_ID, order.customer.id),
                    SearchAttributePair(ORDER_TOTAL, float(format_minor(order.total, order.currency))),
                ]
            ),
            memo=memo,
            static_summary=order.summary(),
        )
    except WorkflowAlreadyStartedError:
        description = await temporal.get_workflow_handle(workflow_id).describe()
        if await description.memo_value("fingerprint", default=None) != fingerprint:
            return Started(Outcome.CONFLICT, OrderStatus.RECEIVED)
        status = description.typed_search_attributes.get(ORDER_STATUS)
        started_by = await description.memo_value("import_id", default=None)
        return Started(
            Outcome.EXISTING,
            OrderStatus(status or OrderStatus.RECEIVED),
            started_by if isinstance(started_by, str) else None,
        )
    return Started(Outcome.CREATED, OrderStatus.RECEIVED, import_id)


async def started_by(temporal: Client, order_id: str) -> str | None:
    """The import that started the order's workflow, from its memo; None if no import did, or there is
    no such workflow (any more)."""
    try:
        description = await temporal.get_workflow_handle(order_workflow_id(order_id)).describe()
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            return None
        raise
    importer = await description.memo_value("import_id", default=None)
    return importer if isinstance(importer, str) else None


async def view(temporal: Client, order_id: str) -> OrderView:
    """The workflow's own view of the order. `OrderNotFound` when there is no such workflow (any more),
    `Unavailable` when Temporal or a worker does not answer within `QUERY_TIMEOUT`."""
    handle = temporal.get_workflow_handle(order_workflow_id(order_id))
    try:
        answer: OrderView = await handle.query(Query.VIEW, result_type=OrderView, rpc_timeout=QUERY_TIMEOUT)
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            raise OrderNotFound(order_id) from None
        if err.status in NO_WORKER:
            raise NoWorker(f"no worker answered the query ({err.status.name})") from None
        if err.status is RPCStatusCode.UNAVAILABLE:
            raise Unavailable(f"Temporal did not answer ({err.status.name})") from None
        raise
    return answer


async def control(
    temporal: Client, order_id: str, update: Update, request: object, update_id: str | None = None
) -> OrderView:
    """A person's request to the order, as a Temporal update; the order's new view.

    A fixed `update_id` makes a resend of the same request return the first answer instead of acting
    twice. Raises `Refused` or `NotOnOrder` when the workflow refuses it, `OrderNotFound` when no
    workflow runs for the order, `NoWorker` when no worker took it within `UPDATE_TIMEOUT`.
    """
    handle = temporal.get_workflow_handle(order_workflow_id(order_id))
    try:
        answer: OrderView = await handle.execute_update(
            update,
            request,
            id=api_update_id(update_id or str(uuid.uuid4())),
            result_type=OrderView,
            rpc_timeout=UPDATE_TIMEOUT,
        )
    except WorkflowUpdateFailedError as err:
        raise refusal(err.cause) or err from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise NoWorker(
            "no worker took the request in time; it may still take effect once one does, so check the order "
            "before sending it again"
        ) from None
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            raise OrderNotFound(order_id) from None
        raise
    return answer


async def report_shipment(temporal: Client, order_id: str, update: Update, report: ShipmentReport, ref: str) -> bool:
    """Hand a carrier's report to the order's workflow; False when the workflow has closed, so the caller
    records the report on the closed order itself.

    The update ID is the report's reference: Temporal itself answers a resend with the first outcome.
    Raises `Refused` (subject "event") when the report does not apply, `DeliveryClosed` when the wait for
    delivery has just ended and the workflow did not finish in time, `NoWorker` when no worker took it.
    """
    handle = temporal.get_workflow_handle(order_workflow_id(order_id))
    try:
        await handle.execute_update(update, report, id=f"{CALLBACK_UPDATE_PREFIX}{ref}", rpc_timeout=UPDATE_TIMEOUT)
    except WorkflowUpdateFailedError as err:
        error = refusal(err.cause, subject="event")
        if isinstance(error, DeliveryClosed):
            # Let the workflow's last write land before the caller records the report as for any closed order.
            await _finished(handle, error)
            return False
        raise error or err from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise NoWorker("the order did not take the event in time; send it again shortly") from None
    except RPCError as err:
        if err.status is not RPCStatusCode.NOT_FOUND:
            raise
        return False
    return True


async def _finished(handle: WorkflowHandle[object, object], closing: DeliveryClosed) -> None:
    try:
        await asyncio.wait_for(handle.result(), timeout=UPDATE_TIMEOUT.total_seconds())
    except TimeoutError:
        raise DeliveryClosed("send the event again shortly") from closing


async def confirm_pick(temporal: Client, order_id: str, confirmation: PickConfirmation) -> None:
    """The warehouse picked a pick list of the order."""
    await temporal.get_workflow_handle(order_workflow_id(order_id)).signal(Signal.CONFIRM_PICK, confirmation)
