"""A workflow's refusal becomes a typed gateway error, and each typed error one HTTP answer."""

import pytest
from temporalio.exceptions import ApplicationError

from api.problems import gateway_problem
from domain.contract import ErrorType
from gateway.errors import (
    DeliveryClosed,
    GatewayError,
    NotOnOrder,
    NoWorker,
    OrderNotFound,
    Refused,
    Unavailable,
    refusal,
)


@pytest.mark.parametrize(
    ("error_type", "expected"),
    [(ErrorType.REJECTED, Refused), (ErrorType.NOT_FOUND, NotOnOrder), (ErrorType.DELIVERY_CLOSED, DeliveryClosed)],
)
def test_a_refusal_is_matched_by_its_error_type(error_type: ErrorType, expected: type[GatewayError]) -> None:
    error = refusal(ApplicationError("skip does not apply", type=error_type, non_retryable=True), subject="event")
    assert type(error) is expected and error.reason == "skip does not apply"
    if isinstance(error, Refused):
        assert error.subject == "event"


def test_other_failures_are_not_refusals() -> None:
    assert refusal(ApplicationError("boom", type=ErrorType.PARTNER_UNAVAILABLE)) is None
    assert refusal(ApplicationError("boom")) is None
    assert refusal(RuntimeError("boom")) is None
    assert refusal(None) is None


@pytest.mark.parametrize(
    ("error", "status", "title"),
    [
        (Refused("skip does not apply"), 409, "Request does not apply"),
        (Refused("not shipped yet", subject="event"), 409, "Event does not apply"),
        (NotOnOrder("exception web-A-EX9 is not on this order"), 404, "Not found"),
        (OrderNotFound("web-A"), 404, "Not found"),
        (DeliveryClosed("send the event again shortly"), 503, "Order is closing"),
        (NoWorker("no worker took the request in time"), 503, "No worker answered"),
        (Unavailable("the import could not be started"), 503, "Service unavailable"),
    ],
)
def test_each_gateway_error_has_one_http_answer(error: GatewayError, status: int, title: str) -> None:
    problem = gateway_problem(error)
    assert (problem.status, problem.title, problem.detail, problem.errors) == (status, title, error.reason, [])


def test_an_unknown_order_reads_as_before() -> None:
    assert gateway_problem(OrderNotFound("web-A")).detail == "order web-A does not exist"
