"""The contract's error mapping: what each answer of an external WMS, TMS or ERP makes the step do.

The partner is played by httpx.MockTransport (it is outside our system); the adapters are the real ones."""

import asyncio
import socket
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from temporalio.exceptions import ApplicationError

from activities.external import HttpCarrier, HttpLedger, HttpWarehouse, Partner
from config import Settings
from domain.contract import ErrorType
from domain.orders import Address, OrderLine, OrderStatus
from domain.steps import Allocation, BookShipment, CreatePickList, IssueInvoice, StockLine

Handler = Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]
ADDRESS = Address("Li Wei", "88 Century Ave", "Shanghai", "200120", "CN")
ALLOCATION = Allocation("web-A1.1", "MAIN", [StockLine("TEE", 2)])
SHIPMENT = BookShipment(
    "web-A1", ALLOCATION, "PL-web-A1.1-MAIN", ADDRESS, datetime(2026, 1, 1, tzinfo=UTC), "wms", OrderStatus.SHIPPED
)


def partner(handler: Handler, system: str = "TMS", **extra: Any) -> Partner:
    return Partner(system, "https://partner.test/v2/", transport=httpx.MockTransport(handler), **extra)


def answer(status: int, body: Any = None, **kwargs: Any) -> Handler:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, **kwargs) if body is not None else httpx.Response(status, **kwargs)

    return handler


async def book(handler: Handler, **extra: Any) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await HttpCarrier(partner(handler, **extra)).book("SH-web-A1.1-MAIN", SHIPMENT)
    return caught.value


async def test_a_booking_carries_the_business_key_and_credentials_and_returns_the_carriers_tracking() -> None:
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"carrier": "SF Express", "tracking_number": "SF1234567890", "eta": "soon"})

    booking = await HttpCarrier(partner(handler, token="s3cret")).book("SH-web-A1.1-MAIN", SHIPMENT)

    assert (booking.carrier, booking.tracking_number) == ("SF Express", "SF1234567890")
    [request] = seen
    assert str(request.url) == "https://partner.test/v2/shipments"
    assert request.headers["Idempotency-Key"] == "SH-web-A1.1-MAIN"
    assert request.headers["Authorization"] == "Bearer s3cret"
    body = httpx.Response(200, content=request.content).json()
    assert body["ship_to"] == {
        "name": "Li Wei",
        "line1": "88 Century Ave",
        "city": "Shanghai",
        "postal_code": "200120",
        "country": "CN",
    }
    assert body["lines"] == [{"sku": "TEE", "quantity": 2}]


async def test_basic_credentials_and_the_other_two_partners() -> None:
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/pick-lists"):
            return httpx.Response(200, json={"reference": "W-77"})
        return httpx.Response(201, json={"number": "2026/INV/0042"})

    auth = {"username": "orderflow", "password": "pw"}
    pick = CreatePickList("web-A1", ALLOCATION, OrderStatus.PICKING)
    reference = await HttpWarehouse(partner(handler, "WMS", **auth)).send_pick_list("PL-1", pick, None)
    invoice = IssueInvoice(
        "web-A1", "web-A1.1", "SH-1", 2500, "JPY", [OrderLine("TEE", 2, 1250)], OrderStatus.COMPLETED
    )
    number = await HttpLedger(partner(handler, "ERP", **auth)).invoice_number("web-A1.1:invoice", invoice)

    assert (reference, number) == ("W-77", "2026/INV/0042")
    assert [r.headers["Authorization"] for r in seen] == ["Basic b3JkZXJmbG93OnB3"] * 2
    assert [r.headers["Idempotency-Key"] for r in seen] == ["PL-1", "web-A1.1:invoice"]
    billed = httpx.Response(200, content=seen[1].content).json()
    assert (billed["amount"], billed["lines"][0]["unit_price"]) == ("2500", "1250")  # JPY has no minor unit


@pytest.mark.parametrize(
    ("status", "headers", "retry_in"),
    [
        (500, {}, None),
        (502, {}, None),
        (503, {"Retry-After": "7"}, timedelta(seconds=7)),
        (429, {"Retry-After": "3600"}, timedelta(minutes=1)),  # capped: the retry policy stays in charge
        (408, {}, None),
    ],
)
async def test_server_trouble_is_retried(status: int, headers: dict[str, str], retry_in: timedelta | None) -> None:
    error = await book(answer(status, {"detail": "busy"}, headers=headers))
    assert (error.type, error.non_retryable, error.next_retry_delay) == (ErrorType.PARTNER_UNAVAILABLE, False, retry_in)
    assert f"{status} busy" in error.message


async def test_a_retry_after_date_is_read_against_the_partners_clock() -> None:
    headers = {"Date": "Sun, 29 Nov 2026 10:00:00 GMT", "Retry-After": "Sun, 29 Nov 2026 10:00:20 GMT"}
    error = await book(answer(503, headers=headers))
    assert error.next_retry_delay == timedelta(seconds=20)


async def test_no_answer_in_time_is_retried() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(1)
        return httpx.Response(201, json={"carrier": "x", "tracking_number": "y"})

    error = await book(slow, timeout_s=0.05)
    assert (error.type, error.non_retryable) == (ErrorType.PARTNER_UNAVAILABLE, False)
    assert "no answer within 0.05 s" in error.message


async def test_a_read_timeout_and_a_refused_connection_are_retried() -> None:
    async def times_out(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("read timed out", request=request)

    assert (await book(times_out)).type == ErrorType.PARTNER_UNAVAILABLE
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ApplicationError) as caught:
        await HttpCarrier(Partner("TMS", f"http://127.0.0.1:{port}")).book("SH-1", SHIPMENT)
    assert (caught.value.type, caught.value.non_retryable) == (ErrorType.PARTNER_UNAVAILABLE, False)
    assert "ConnectError" in caught.value.message


async def test_a_carrier_rejecting_the_address_opens_address_rejected_with_its_words() -> None:
    problem = {"type": "address-rejected", "title": "Address rejected", "detail": "no delivery to PO boxes"}
    error = await book(answer(422, problem, headers={"Content-Type": "application/problem+json"}))
    assert (error.type, error.non_retryable) == (ErrorType.ADDRESS_REJECTED, True)
    assert error.message == "TMS rejected SH-web-A1.1-MAIN: no delivery to PO boxes (422 address-rejected)"


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        (
            422,
            {"code": "weight_over_limit", "message": "parcel over 30 kg"},
            "parcel over 30 kg (422 weight_over_limit)",
        ),
        (400, {"title": "Bad Request"}, "Bad Request (400)"),
        (409, {"error": "account suspended"}, "account suspended (409)"),
        (401, None, "Unauthorized (401)"),
        (404, "no such route", "no such route (404)"),
    ],
)
async def test_other_client_errors_are_business_failures_with_the_partners_message(
    status: int, body: Any, said: str
) -> None:
    handler = answer(status, content=body.encode()) if isinstance(body, str) else answer(status, body)
    error = await book(handler)
    assert (error.type, error.non_retryable) == (ErrorType.PARTNER_REJECTED, True)
    assert error.message == f"TMS rejected SH-web-A1.1-MAIN: {said}"


async def test_a_long_partner_message_is_cut() -> None:
    error = await book(answer(400, {"detail": "x" * 5000}))
    assert len(error.message) < 400 and error.message.endswith("… (400)")


@pytest.mark.parametrize(
    ("handler", "complaint"),
    [
        (answer(201, {"carrier": "SF"}), "tracking_number: Field required"),
        (answer(201, {"carrier": "SF", "tracking_number": "T" * 65}), "tracking_number: String should have at most"),
        (answer(201, {"carrier": "SF", "tracking_number": "  "}), "tracking_number: String should have at least"),
        (answer(200, ["SF", "T1"]), "not a JSON object"),
        (answer(200, content=b"<html>ok</html>"), "not JSON"),
        (answer(204), "answered 204"),
        (answer(302, headers={"Location": "https://elsewhere.test/"}), "answered 302"),
    ],
)
async def test_an_answer_outside_the_contract_is_not_retried(handler: Handler, complaint: str) -> None:
    error = await book(handler)
    assert (error.type, error.non_retryable) == (ErrorType.PARTNER_BROKE_CONTRACT, True)
    assert complaint in error.message


def test_settings_point_a_step_at_an_external_system_only_when_its_url_is_set() -> None:
    settings = Settings(tms_url="https://tms.example.com/api", tms_token="t0ken-x", tms_timeout_s=2.5)
    assert settings.external("wms") is None and settings.external("erp") is None
    tms = settings.external("tms")
    assert tms is not None
    assert (tms.url, tms.token, tms.username, tms.timeout_s) == ("https://tms.example.com/api", "t0ken-x", None, 2.5)
    assert "t0ken-x" not in repr(settings)
    assert "pw-x" not in repr(Partner("ERP", "https://erp.test", token="t0ken-x", username="u", password="pw-x"))
    assert "t0ken-x" not in repr(Partner("ERP", "https://erp.test", token="t0ken-x"))


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"erp_url": "ftp://erp.example.com"}, "erp_url"),
        ({"erp_url": "https://erp.example.com/?a=1"}, "erp_url"),
        ({"erp_timeout_s": 30}, "erp_timeout_s"),  # longer than the step gives an attempt
        ({"wms_token": "x", "wms_username": "u", "wms_password": "p"}, "not both"),
        ({"wms_username": "u"}, "go together"),
        (
            {
                "environment": "production",
                "database_url": "postgresql+asyncpg://u:Str0ng-pw@db/of",
                "tms_url": "http://tms.example.com",
                "tms_token": "Str0ng-t0ken",
            },
            "https only",
        ),
        (
            {
                "environment": "production",
                "database_url": "postgresql+asyncpg://u:Str0ng-pw@db/of",
                "tms_url": "https://tms.example.com",
                "tms_token": "changeme",
            },
            "ORDERFLOW_TMS_TOKEN",
        ),
    ],
)
def test_external_settings_that_cannot_work_are_refused(values: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        Settings(**values)
