"""HTTP adapters to an external WMS, TMS and ERP: the contract of docs/integrations.md.

Each call is one `POST` with an `Idempotency-Key` equal to our business key, so the retry of a call
whose answer was lost (a timeout) finds the first one's result instead of making a second pick list,
shipment or invoice. How an answer is turned into a Temporal error decides what the order does:

- no answer in time, no connection, 408, 429, 5xx: a retryable error; the step's retry policy tries again
  (honouring `Retry-After`), and only when it gives up does the order open a `step_failed` exception;
- any other 4xx: a non-retryable error carrying the partner's message; the order opens an exception at
  once (`address_rejected` for a TMS that rejects the address, `step_failed` otherwise);
- a 2xx whose body does not follow the contract: non-retryable, the partner has a defect a retry will
  not fix.
"""

import asyncio
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

import httpx
import structlog
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.billing import CreditNoteRequest
from activities.carrier import Booking
from domain.contract import ErrorType
from domain.money import format_minor
from domain.orders import Address
from domain.steps import BookShipment, CreatePickList, IssueInvoice
from egress import Egress, EgressRefused

log = structlog.get_logger(__name__)


RETRYABLE_STATUSES = frozenset({408, 425, 429})
MAX_RETRY_AFTER = timedelta(minutes=1)
MAX_MESSAGE = 300


@dataclass(frozen=True)
class Partner:
    """Where an external system answers and how we authenticate to it."""

    system: str  # "WMS", "TMS" or "ERP": names the partner in messages
    base_url: str
    token: str | None = field(default=None, repr=False)  # Authorization: Bearer
    username: str | None = None  # Authorization: Basic, with password
    password: str | None = field(default=None, repr=False)
    timeout_s: float = 5.0  # the whole call, connect to last byte
    connect_timeout_s: float = 3.0
    # Which addresses may be reached (docs/security.md); None only in tests that give a transport.
    egress: Egress | None = None
    # Only for tests of the error mapping; the worker talks to the network.
    transport: httpx.AsyncBaseTransport | None = None


@dataclass(frozen=True)
class Rejection:
    """A 4xx answer: the status and what the partner said."""

    status: int
    code: str
    message: str


class PartnerClient:
    """One partner's HTTP endpoint, with the contract's error mapping."""

    def __init__(self, partner: Partner) -> None:
        self.partner = partner
        auth: httpx.Auth | None = None
        if partner.username:
            auth = httpx.BasicAuth(partner.username, partner.password or "")
        self._auth = auth
        self._headers = {"Accept": "application/json", "User-Agent": "orderflow"}
        if partner.token:
            self._headers["Authorization"] = f"Bearer {partner.token}"
        self._timeout = httpx.Timeout(partner.timeout_s, connect=min(partner.connect_timeout_s, partner.timeout_s))

    async def post(
        self,
        path: str,
        body: dict[str, Any],
        idempotency_key: str,
        rejection_type: Callable[[Rejection], str] = lambda _: ErrorType.PARTNER_REJECTED,
    ) -> dict[str, Any]:
        """POST `body` and return the partner's JSON object; anything else raises an ApplicationError."""
        system = self.partner.system
        url = f"{self.partner.base_url.rstrip('/')}/{path.lstrip('/')}"
        what = f"{system} POST /{path.lstrip('/')} ({idempotency_key})"
        headers = {**self._headers, "Idempotency-Key": idempotency_key}
        try:
            # The deadline covers the whole exchange: a partner dripping bytes cannot hold the step.
            async with asyncio.timeout(self.partner.timeout_s):
                transport = self.partner.transport
                if transport is None and self.partner.egress is not None:
                    transport = self.partner.egress.transport()
                async with httpx.AsyncClient(
                    timeout=self._timeout, auth=self._auth, transport=transport, trust_env=False
                ) as http:
                    response = await http.post(url, json=body, headers=headers)
        except EgressRefused as err:
            raise ApplicationError(
                f"{what}: refused to connect: {err}",
                {"system": system},
                type=ErrorType.PARTNER_REJECTED,
                non_retryable=True,
            ) from None
        except (TimeoutError, httpx.TimeoutException):
            raise unavailable(f"{what}: no answer within {self.partner.timeout_s:g} s") from None
        except httpx.TransportError as err:
            raise unavailable(f"{what}: {type(err).__name__}: {err or 'connection failed'}") from None
        status = response.status_code
        log.info("partner answered", system=system, path=path, idempotency_key=idempotency_key, status=status)
        if status in RETRYABLE_STATUSES or status >= 500:
            said = problem_of(response)
            raise unavailable(f"{what}: {status} {said.message}".rstrip(), retry_after(response))
        if 400 <= status < 500:
            rejection = problem_of(response)
            reason = f"{status} {rejection.code}".rstrip()
            raise ApplicationError(
                f"{system} rejected {idempotency_key}: {rejection.message} ({reason})",
                {"system": system, "status": status, "code": rejection.code},
                type=rejection_type(rejection),
                non_retryable=True,
                # An expected business answer: logged once above, no traceback from the worker.
                category=ApplicationErrorCategory.BENIGN,
            )
        if status not in (200, 201):
            raise broke_contract(f"{what}: answered {status}, the contract says 200 or 201")
        try:
            parsed = response.json()
        except ValueError:
            raise broke_contract(f"{what}: the answer is not JSON") from None
        if not isinstance(parsed, dict):
            raise broke_contract(f"{what}: the answer is not a JSON object")
        return parsed


def unavailable(message: str, retry_in: timedelta | None = None) -> ApplicationError:
    log.warning("partner unavailable: the step will retry", reason=message)
    return ApplicationError(
        message, type=ErrorType.PARTNER_UNAVAILABLE, next_retry_delay=retry_in, category=ApplicationErrorCategory.BENIGN
    )


def broke_contract(message: str) -> ApplicationError:
    return ApplicationError(message, type=ErrorType.PARTNER_BROKE_CONTRACT, non_retryable=True)


def problem_of(response: httpx.Response) -> Rejection:
    """What the partner said: problem+json (`detail`/`title`, `code`/`type`), `message`, or the text."""
    code, message = "", ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        message = next((str(body[k]) for k in ("detail", "message", "title", "error") if body.get(k)), "")
        code = next((str(body[k]) for k in ("code", "type") if body.get(k)), "")
    if not message:
        message = response.text.strip() or response.reason_phrase
    message = " ".join(message.split())
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    return Rejection(response.status_code, code[:100], message)


def retry_after(response: httpx.Response) -> timedelta | None:
    """The partner's Retry-After (seconds or an HTTP date), capped; None leaves it to the retry policy."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        delay = timedelta(seconds=max(0.0, float(value)))
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        date = response.headers.get("Date")
        now = parsedate_to_datetime(date) if date else None
        if now is None:
            return None
        delay = max(timedelta(0), when - now)
    return min(delay, MAX_RETRY_AFTER)


# ---- what each partner answers -----------------------------------------------------------------

Text64 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")  # partners may say more than the contract needs


AnswerT = TypeVar("AnswerT", bound=_Answer)


class PickListAccepted(_Answer):
    reference: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]


class ShipmentAccepted(_Answer):
    carrier: Text64
    tracking_number: Text64


class InvoiceAccepted(_Answer):
    number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]


def read_answer(model: type[AnswerT], body: dict[str, Any], partner: Partner, key: str) -> AnswerT:
    try:
        return model.model_validate(body)
    except ValidationError as err:
        wrong = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in err.errors())
        shown = json.dumps(body)[:200]
        raise broke_contract(
            f"{partner.system} answer for {key} does not follow the contract ({wrong}): {shown}"
        ) from None


def _address(address: Address) -> dict[str, Any]:
    return {k: v for k, v in asdict(address).items() if v is not None}


# ---- the three adapters ------------------------------------------------------------------------


class HttpWarehouse:
    """An external WMS: it receives our pick lists and confirms them through POST /v1/pick-lists/{id}/confirm."""

    def __init__(self, partner: Partner) -> None:
        self._client = PartnerClient(partner)

    async def send_pick_list(self, pick_list_id: str, req: CreatePickList, ship_to: Address | None) -> str:
        allocation = req.allocation
        body: dict[str, Any] = {
            "pick_list_id": pick_list_id,
            "order_id": req.order_id,
            "warehouse": allocation.warehouse,
            "lines": [{"sku": line.sku, "quantity": line.quantity} for line in allocation.lines],
        }
        if ship_to is not None:
            body["ship_to"] = _address(ship_to)
        answer = await self._client.post("pick-lists", body, pick_list_id)
        return read_answer(PickListAccepted, answer, self._client.partner, pick_list_id).reference

    async def cancel_pick_list(self, pick_list_id: str, order_id: str, reason: str) -> None:
        body = {"pick_list_id": pick_list_id, "order_id": order_id, "reason": reason}
        await self._client.post(f"pick-lists/{quote(pick_list_id, safe='')}/cancel", body, f"{pick_list_id}:cancel")


def _address_rejected(rejection: Rejection) -> str:
    """A TMS 422 that says the address is the problem becomes the order's `address_rejected` exception."""
    code = rejection.code.lower().replace("-", "_")
    if rejection.status == 422 and "address_rejected" in code:
        return ErrorType.ADDRESS_REJECTED
    return ErrorType.PARTNER_REJECTED


class HttpCarrier:
    """An external TMS: it books the parcel and numbers the tracking."""

    def __init__(self, partner: Partner) -> None:
        self._client = PartnerClient(partner)

    async def book(self, shipment_id: str, req: BookShipment) -> Booking:
        body = {
            "shipment_id": shipment_id,
            "order_id": req.order_id,
            "pick_list_id": req.pick_list_id,
            "allocation_id": req.allocation.allocation_id,
            "warehouse": req.allocation.warehouse,
            "ship_to": _address(req.ship_to),
            "lines": [{"sku": line.sku, "quantity": line.quantity} for line in req.allocation.lines],
        }
        answer = await self._client.post("shipments", body, shipment_id, _address_rejected)
        accepted = read_answer(ShipmentAccepted, answer, self._client.partner, shipment_id)
        return Booking(accepted.carrier, accepted.tracking_number)


class HttpLedger:
    """An external ERP: it issues invoices and credit notes and numbers them."""

    def __init__(self, partner: Partner) -> None:
        self._client = PartnerClient(partner)

    async def invoice_number(self, invoice_key: str, req: IssueInvoice) -> str:
        currency = req.currency
        body = {
            "invoice_key": invoice_key,
            "order_id": req.order_id,
            "shipment_id": req.shipment_id,
            "amount": format_minor(req.amount, currency),
            "currency": currency,
            "lines": [
                {
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "unit_price": format_minor(line.unit_price, currency),
                    "total": format_minor(line.total, currency),
                }
                for line in req.lines
            ],
        }
        answer = await self._client.post("invoices", body, invoice_key)
        return read_answer(InvoiceAccepted, answer, self._client.partner, invoice_key).number

    async def credit_note_number(self, credit_note_key: str, req: CreditNoteRequest) -> str:
        currency = req.currency
        body = {
            "credit_note_key": credit_note_key,
            "return_id": req.return_id,
            "order_id": req.order_id,
            "amount": format_minor(req.amount, currency),
            "currency": currency,
            "lines": [
                {
                    "invoice_number": line.invoice_number,
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "unit_price": format_minor(line.unit_price, currency),
                    "total": format_minor(line.quantity * line.unit_price, currency),
                }
                for line in req.lines
            ],
        }
        answer = await self._client.post("credit-notes", body, credit_note_key)
        return read_answer(InvoiceAccepted, answer, self._client.partner, credit_note_key).number
