"""Starting an order's workflow: the one place that does it, for POST /v1/orders and for spreadsheet imports.

The workflow ID is the order's identity and `REJECT_DUPLICATE` keeps it unique; the memo carries the
content's fingerprint, so a second start tells an identical resubmission from a conflicting one.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from config import Settings
from domain.money import format_minor
from domain.orders import Order, OrderStatus, workflow_id_for
from domain.policy import NewOrder
from workflows import attributes


class Outcome(StrEnum):
    CREATED = "created"  # this call started the workflow
    EXISTING = "existing"  # the same content was started before
    CONFLICT = "conflict"  # the order ID was started before with different content


@dataclass(frozen=True)
class Started:
    outcome: Outcome
    status: OrderStatus
    import_id: str | None = None  # the import that started the existing workflow, from its memo


async def start_order(
    temporal: Client, settings: Settings, order: Order, import_id: str | None = None, new: NewOrder | None = None
) -> Started:
    """Start the order's workflow once. `import_id` goes into the memo, so a retried import step can
    recognise an order it started itself. `new`: the order and policy as the business rules made them
    (rules/engine.py); without it, settings alone decide."""
    fingerprint = order.fingerprint()
    workflow_id = workflow_id_for(order.order_id)
    memo: dict[str, str] = {"fingerprint": fingerprint}
    if import_id is not None:
        memo["import_id"] = import_id
    try:
        await temporal.start_workflow(
            attributes.ORDER_WORKFLOW,
            new or NewOrder(order, settings.order_policy(order, datetime.now(UTC))),
            id=workflow_id,
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(attributes.ORDER_STATUS, OrderStatus.RECEIVED.value),
                    SearchAttributePair(attributes.CHANNEL, order.channel),
                    SearchAttributePair(attributes.CUSTOMER_ID, order.customer.id),
                    SearchAttributePair(attributes.ORDER_TOTAL, float(format_minor(order.total, order.currency))),
                ]
            ),
            memo=memo,
            static_summary=order.summary(),
        )
    except WorkflowAlreadyStartedError:
        description = await temporal.get_workflow_handle(workflow_id).describe()
        if await description.memo_value("fingerprint", default=None) != fingerprint:
            return Started(Outcome.CONFLICT, OrderStatus.RECEIVED)
        status = description.typed_search_attributes.get(attributes.ORDER_STATUS)
        started_by = await description.memo_value("import_id", default=None)
        return Started(
            Outcome.EXISTING,
            OrderStatus(status or OrderStatus.RECEIVED),
            started_by if isinstance(started_by, str) else None,
        )
    return Started(Outcome.CREATED, OrderStatus.RECEIVED, import_id)
