"""The contract between orderflow's workflows and everything that talks to them.

Workflow types and IDs, signal / update / query names, the error types a workflow or activity raises
and a caller matches on, and the search attribute keys. Both sides import these names from here and
nowhere else: a name written as a literal in two places drifts. Standard library only, so the
workflow sandbox, activities, the API and tests can all import it.

Every value here is recorded in histories of orders in flight: renaming one breaks them.
"""

from enum import StrEnum


class WorkflowType(StrEnum):
    ORDER = "Order"
    RESTOCK = "Restock"
    IMPORT_BATCH = "ImportBatch"
    WEBHOOK_DELIVERY = "WebhookDelivery"
    RETENTION = "Retention"
    FORECAST = "Forecast"
    RETURN = "Return"
    INBOUND_NOTICE = "InboundNotice"


class Signal(StrEnum):
    CONFIRM_PICK = "confirm_pick"  # Order: the warehouse picked a pick list
    STOCK_ARRIVED = "stock_arrived"  # Order: a receipt brought what it waits for
    ALLOCATION_ATTEMPTED = "allocation_attempted"  # Restock: a woken order tried to allocate
    INBOUND_CHANGED = "inbound_changed"  # Order: inbound for a SKU it waits for was announced or moved


class Update(StrEnum):
    RESOLVE_EXCEPTION = "resolve_exception"
    CANCEL = "cancel"
    CANCEL_REMAINDER = "cancel_remainder"  # what has not shipped of a partly shipped order
    EDIT_ORDER = "edit_order"  # lines, quantities, prices, priority: before the goods leave
    HOLD = "hold"
    RELEASE = "release"
    CHANGE_ADDRESS = "change_address"
    APPROVE = "approve"
    REJECT = "reject"
    SHIPMENT_HANDED_OVER = "shipment_handed_over"
    SHIPMENT_DELIVERED = "shipment_delivered"
    DELIVERY_FAILED = "delivery_failed"
    # Return (RMA)
    APPROVE_RETURN = "approve_return"
    DECLINE_RETURN = "decline_return"
    RECEIVE_RETURN = "receive_return"


class Query(StrEnum):
    VIEW = "view"  # Order: OrderView
    PROGRESS = "progress"  # ImportBatch: ImportProgress
    RETURN_VIEW = "return_view"  # Return: ReturnView


class ErrorType(StrEnum):
    """`ApplicationError.type` values. Refusals of a request are answered to the caller (HTTP 404/409);
    the others steer retries and exceptions inside the workflow."""

    REJECTED = "Rejected"  # the request does not apply to the order as it stands
    NOT_FOUND = "NotFound"  # the thing named is not on this order
    DELIVERY_CLOSED = "DeliveryClosed"  # the order no longer waits for carrier reports
    ADDRESS_REJECTED = "AddressRejected"  # the carrier refuses the ship-to address: a person must fix it
    PARTNER_UNAVAILABLE = "PartnerUnavailable"  # an outside system is down: retried later
    PARTNER_REJECTED = "PartnerRejected"  # a business "no" from an outside system: a person must act
    PARTNER_BROKE_CONTRACT = "PartnerBrokeContract"  # an answer we cannot read: a person must act
    WEBHOOK_UNAVAILABLE = "WebhookUnavailable"  # the subscriber did not answer: retried
    WEBHOOK_REFUSED = "WebhookRefused"  # the subscriber answered with a client error: not retried
    WEBHOOK_TARGET_FORBIDDEN = "WebhookTargetForbidden"  # the target resolves to an address we may not call
    SUBSCRIPTION_GONE = "SubscriptionGone"  # the subscription or event no longer exists
    REFUND_REFUSED = "RefundRefused"  # a refund would credit more than was paid for those units


class SearchAttribute(StrEnum):
    """Search attributes operations filter on in the Temporal UI and CLI (keyword unless noted)."""

    ORDER_STATUS = "OrderStatus"
    CHANNEL = "Channel"
    CUSTOMER_ID = "CustomerId"
    ORDER_TOTAL = "OrderTotal"  # float
    HAS_OPEN_EXCEPTION = "HasOpenException"  # bool
    AT_RISK = "AtRisk"  # bool


# The Temporal Schedule that starts the Retention workflow (worker.py creates it).
RETENTION_SCHEDULE_ID = "orderflow-retention"


def order_workflow_id(order_id: str) -> str:
    return f"order-{order_id}"


def order_id_of(workflow_id: str) -> str:
    """The order ID back from its workflow's ID."""
    return workflow_id.removeprefix("order-")


def restock_workflow_id(source: str) -> str:
    """One restock per receipt (`receipt-...`) or released order (`release-...`)."""
    return f"restock-{source}"


def inbound_notice_workflow_id(inbound_id: str, version: str) -> str:
    """One notice per change of an inbound (`version`: when it changed): the same change sent again
    notifies nobody twice."""
    return f"inbound-{inbound_id}-{version}"


# Updates the API sends carry an ID with one of these prefixes; any other update came from outside it
# (the Temporal CLI, a script on the Temporal frontend) and the order writes its own audit row for it.
API_UPDATE_PREFIX = "api:"
CALLBACK_UPDATE_PREFIX = "callback:"


def api_update_id(key: str) -> str:
    return f"{API_UPDATE_PREFIX}{key}"


def sent_by_api(update_id: str) -> bool:
    return update_id.startswith((API_UPDATE_PREFIX, CALLBACK_UPDATE_PREFIX))


def return_workflow_id(return_id: str) -> str:
    return f"return-{return_id}"


def import_workflow_id(import_id: str) -> str:
    return f"import-{import_id}"


FORECAST_SCHEDULE_ID = "forecast"


def forecast_workflow_id(run_at: str) -> str:
    """A run started by hand; the Schedule names its runs `forecast-<time>` itself."""
    return f"forecast-{run_at}"


def delivery_workflow_id(subscription_id: str, event_id: str, redelivery: int = 0) -> str:
    """One delivery workflow per (subscription, event): starting it twice is refused, which is what
    makes each event go once to each subscription. A redelivery asked for by a person gets a suffix."""
    base = f"webhook-{subscription_id}-{event_id}"
    return f"{base}-r{redelivery}" if redelivery else base
