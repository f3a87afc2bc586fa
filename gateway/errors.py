"""What can go wrong calling a workflow, as errors a caller matches by type, not by a string.

A workflow refuses a request with an `ApplicationError` whose `type` is a `domain.contract.ErrorType`;
the gateway turns it into one of these. Anything not listed here (a bug, an RPC failure the gateway
does not expect) propagates as it came.
"""

from temporalio.exceptions import ApplicationError

from domain.contract import ErrorType


class GatewayError(Exception):
    """A call to a workflow that did not go through; `reason` says why, for a person to read."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Refused(GatewayError):
    """The request does not apply to the order as it stands (`ErrorType.REJECTED`); nothing changed.
    `subject` names what was refused: a person's "request" or a partner's "event"."""

    def __init__(self, reason: str, subject: str = "request") -> None:
        super().__init__(reason)
        self.subject = subject


class NotOnOrder(GatewayError):
    """The thing the request names (an exception, a shipment) is not on this order (`ErrorType.NOT_FOUND`)."""


class OrderNotFound(GatewayError):
    """No running workflow for the order: never started, finished, or removed by retention."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id} does not exist")
        self.order_id = order_id


class DeliveryClosed(GatewayError):
    """The order has just stopped waiting for carrier reports (`ErrorType.DELIVERY_CLOSED`) and its
    workflow did not finish in time for the report to be recorded on the closed order."""


class Unavailable(GatewayError):
    """Temporal did not answer in time, or refused the call for a reason of its own."""


class NoWorker(Unavailable):
    """Temporal took the call but no worker answered in time; an update may still take effect later."""


def refusal(failure: BaseException | None, subject: str = "request") -> GatewayError | None:
    """The typed error for a workflow's refusal (the cause of a failed update), None for any other failure."""
    if not isinstance(failure, ApplicationError):
        return None
    match failure.type:
        case ErrorType.REJECTED:
            return Refused(failure.message, subject)
        case ErrorType.NOT_FOUND:
            return NotOnOrder(failure.message)
        case ErrorType.DELIVERY_CLOSED:
            return DeliveryClosed(failure.message)
    return None
