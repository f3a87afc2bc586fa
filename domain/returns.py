"""Returns (RMA): what may come back, a return's states, and what its refund is worth.

A return asks for units that shipped on the order and are not already on another live return, within
the return window counted from delivery (from shipping when the carrier never reported delivery).
It is `requested`, then `approved` (by a person, or by policy) or `declined`; the warehouse reports what
arrived, per line, with a disposition; the refund is a credit note against the invoice(s) those units
were billed on, at the price billed, never for more units than an invoice billed less what earlier
credit notes on it took back. Units reported `missing` are not refunded. Money stays integer minor
units of the order's currency throughout.

Pure: no I/O, no clock.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from domain.orders import InvalidField
from domain.steps import StockLine


class ReturnStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    DECLINED = "declined"
    RECEIVED = "received"
    REFUNDED = "refunded"
    CLOSED = "closed"
    EXPIRED = "expired"


# A return in one of these still holds its units: another return cannot ask for them.
LIVE = (
    ReturnStatus.REQUESTED,
    ReturnStatus.APPROVED,
    ReturnStatus.RECEIVED,
    ReturnStatus.REFUNDED,
    ReturnStatus.CLOSED,
)


class Disposition(StrEnum):
    RESTOCK = "restock"  # back to available stock, through the ledger
    DAMAGED = "damaged"  # came back, not sellable: refunded, not restocked
    MISSING = "missing"  # did not arrive: neither restocked nor refunded


REFUNDED_DISPOSITIONS = (Disposition.RESTOCK, Disposition.DAMAGED)


@dataclass(frozen=True)
class ReturnLine:
    sku: str
    quantity: int
    reason: str = ""


@dataclass(frozen=True)
class ShippedLine:
    """Units of one SKU that left on one shipment, and when they arrived (if the carrier said)."""

    sku: str
    quantity: int
    shipped_at: datetime
    delivered_at: datetime | None = None


@dataclass(frozen=True)
class BilledLine:
    """Units of one SKU on one invoice (or taken back by one credit note against it), at one price."""

    invoice_number: str
    sku: str
    quantity: int
    unit_price: int


def _units(lines: list[StockLine]) -> dict[str, int]:
    units: dict[str, int] = {}
    for line in lines:
        units[line.sku] = units.get(line.sku, 0) + line.quantity
    return units


def returnable(
    shipped: list[ShippedLine], returning: list[StockLine], now: datetime, window: timedelta
) -> dict[str, int]:
    """Units per SKU a new return may ask for: shipped within the window, less those on live returns."""
    open_units = _units(
        [StockLine(s.sku, s.quantity) for s in shipped if (s.delivered_at or s.shipped_at) + window >= now]
    )
    for sku, quantity in _units(returning).items():
        open_units[sku] = open_units.get(sku, 0) - quantity
    return {sku: quantity for sku, quantity in open_units.items() if quantity > 0}


def check_request(lines: list[ReturnLine], available: dict[str, int], shipped_skus: set[str]) -> list[InvalidField]:
    """Why these lines cannot be returned, one problem per field; empty when they can."""
    problems: list[InvalidField] = []
    if not lines:
        problems.append(InvalidField("lines", "a return needs at least one line"))
    seen: set[str] = set()
    for i, line in enumerate(lines):
        where = f"lines[{i}]"
        if line.sku in seen:
            problems.append(InvalidField(f"{where}.sku", f"{line.sku} appears on more than one line"))
        seen.add(line.sku)
        if line.quantity <= 0:
            problems.append(InvalidField(f"{where}.quantity", "must be positive"))
        elif line.sku not in shipped_skus:
            problems.append(InvalidField(f"{where}.sku", f"{line.sku} has not shipped on this order"))
        elif line.quantity > available.get(line.sku, 0):
            can = available.get(line.sku, 0)
            problems.append(
                InvalidField(
                    f"{where}.quantity",
                    f"{can} x {line.sku} can be returned (shipped within the return window, not on another return)",
                )
            )
    return problems


class RefundRefused(ValueError):
    """The refund would credit more than was billed (and not yet credited) for those units."""


def credit_lines(refund: list[StockLine], billed: list[BilledLine], credited: list[BilledLine]) -> list[BilledLine]:
    """The credit note lines for these units: taken from the order's invoices in order, at the price each
    billed, never more units per invoice than it billed less what earlier credit notes took back."""
    left: dict[tuple[str, str, int], int] = {}
    for line in billed:
        key = (line.invoice_number, line.sku, line.unit_price)
        left[key] = left.get(key, 0) + line.quantity
    for line in credited:
        key = (line.invoice_number, line.sku, line.unit_price)
        left[key] = left.get(key, 0) - line.quantity
    lines: list[BilledLine] = []
    for sku, wanted in _units(refund).items():
        for (invoice_number, billed_sku, unit_price), quantity in left.items():
            take = min(wanted, quantity) if billed_sku == sku else 0
            if take > 0:
                lines.append(BilledLine(invoice_number, sku, take, unit_price))
                left[(invoice_number, billed_sku, unit_price)] -= take
                wanted -= take
        if wanted > 0:
            raise RefundRefused(f"{wanted} x {sku} would be refunded beyond what was invoiced and not yet credited")
    return lines


@dataclass(frozen=True)
class ReceivedLine:
    sku: str
    quantity: int
    disposition: Disposition


@dataclass(frozen=True)
class ReturnReceipt:
    """The warehouse's report of what arrived; `report_id` makes the same report act once."""

    report_id: str
    lines: list[ReceivedLine]
    warehouse: str
    received_by: str = "warehouse"


@dataclass(frozen=True)
class ReturnDecision:
    actor: str = "operations"
    note: str = ""


@dataclass(frozen=True)
class ReturnPolicy:
    receive_within_s: float  # approved (or requested) and nothing arrived: the return expires
    refund_sla_s: float  # received and not refunded: a person is alerted
    auto_approve: bool = False
    carrier: str = "orderflow"  # whose return label the approval issues


@dataclass(frozen=True)
class NewReturn:
    return_id: str
    order_id: str
    currency: str
    lines: list[ReturnLine]
    note: str
    requested_by: str
    policy: ReturnPolicy


@dataclass(frozen=True)
class ReturnEvent:
    at: datetime
    event: str
    detail: str = ""
    actor: str = "system"


@dataclass
class ReturnView:
    return_id: str
    order_id: str
    status: ReturnStatus
    lines: list[ReturnLine]
    received: list[ReceivedLine] = field(default_factory=list)
    label: str | None = None
    credit_note: str | None = None
    refunded: int = 0  # minor units
    events: list[ReturnEvent] = field(default_factory=list)


def check_receipt(requested: list[ReturnLine], receipt: ReturnReceipt) -> list[str]:
    """Why a receipt does not fit the return; empty when it does. Every requested unit must be
    accounted for (missing ones as `missing`), and nothing beyond what was requested."""
    wanted = {line.sku: line.quantity for line in requested}
    reported = _units([StockLine(line.sku, line.quantity) for line in receipt.lines])
    problems = [f"{sku} is not on this return" for sku in reported if sku not in wanted]
    problems += [
        f"{reported.get(sku, 0)} x {sku} reported, {quantity} requested: report every unit, missing ones as missing"
        for sku, quantity in wanted.items()
        if reported.get(sku, 0) != quantity
    ]
    problems += [f"{line.sku}: quantity must be positive" for line in receipt.lines if line.quantity <= 0]
    return problems
