"""The order: what a channel submits, its identity, its statuses and the view operations see."""

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum

from domain.money import format_minor


class OrderStatus(StrEnum):
    RECEIVED = "received"
    CONFIRMED = "confirmed"
    AWAITING_APPROVAL = "awaiting_approval"
    ALLOCATED = "allocated"
    BACKORDERED = "backordered"
    PICKING = "picking"
    SHIPPED = "shipped"
    COMPLETED = "completed"
    DELIVERED = "delivered"  # after completed: the carrier reported every shipment delivered
    NEEDS_ATTENTION = "needs_attention"
    ON_HOLD = "on_hold"
    CANCELLED = "cancelled"


class Priority(StrEnum):
    STANDARD = "standard"
    RUSH = "rush"


class Step(StrEnum):
    CONFIRM = "confirm"
    APPROVE = "approve"
    ALLOCATE = "allocate"
    PICK = "pick"
    SHIP = "ship"
    INVOICE = "invoice"
    DELIVER = "deliver"  # after completion: the carrier's reports


# A channel is a short lowercase code; it never contains "-", so an order ID splits back unambiguously.
CHANNEL_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
EXTERNAL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_ORDER_ID = re.compile(r"^([a-z][a-z0-9_]{0,31})-([A-Za-z0-9][A-Za-z0-9._-]{0,63})$")


def order_id_for(channel: str, external_id: str) -> str:
    """The order's identity is the channel's own reference: the same order submitted twice is one order."""
    return f"{channel}-{external_id}"


def is_order_id(value: str) -> bool:
    return _ORDER_ID.match(value) is not None


@dataclass(frozen=True)
class Customer:
    id: str
    name: str
    email: str


@dataclass(frozen=True)
class Address:
    name: str
    line1: str
    city: str
    postal_code: str
    country: str
    line2: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class OrderLine:
    sku: str
    quantity: int
    unit_price: int  # minor units of the order's currency
    gift: bool = False  # added by a rule at zero price (domain/rules.py), not by the channel
    gift_required: bool = False  # the order waits for the gift's stock rather than ship without it

    @property
    def total(self) -> int:
        return self.quantity * self.unit_price


@dataclass(frozen=True)
class Order:
    channel: str
    external_id: str
    customer: Customer
    ship_to: Address
    lines: list[OrderLine]
    currency: str
    ship_by: datetime | None = None
    priority: Priority = Priority.STANDARD
    # The fingerprint of the order as the channel submitted it, when rules changed it (gift lines,
    # priority); empty when nothing changed it.
    as_submitted: str = ""

    @property
    def order_id(self) -> str:
        return order_id_for(self.channel, self.external_id)

    @property
    def total(self) -> int:
        return sum(line.total for line in self.lines)

    def summary(self) -> str:
        """One line for people scanning a list: "web WEB-10001 · 3 lines · 120.00 CNY"."""
        count = len(self.lines)
        noun = "line" if count == 1 else "lines"
        return (
            f"{self.channel} {self.external_id} · {count} {noun} · "
            f"{format_minor(self.total, self.currency)} {self.currency}"
        )

    def fingerprint(self) -> str:
        """Stable digest of the submitted content, to tell a resubmission from a conflicting one."""
        if self.as_submitted:
            return self.as_submitted
        data = asdict(self)
        # Fields added later are left out, so fingerprints recorded before them still match.
        del data["as_submitted"]
        data["lines"] = [
            {"sku": line.sku, "quantity": line.quantity, "unit_price": line.unit_price}
            for line in self.lines
            if not line.gift
        ]
        data["ship_by"] = self.ship_by.isoformat() if self.ship_by else None
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class InvalidField:
    """A field of a request that cannot be accepted as sent, and why: one item of a problem's `errors`."""

    field: str  # "lines[2].quantity"
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def validate(order: Order) -> list[InvalidField]:
    """The fields that make an order unprocessable as submitted (catalog checks are separate)."""
    invalid: list[InvalidField] = []
    if not order.lines:
        invalid.append(InvalidField("lines", "an order needs at least one line"))
    seen: set[str] = set()
    for i, line in enumerate(order.lines):
        if line.quantity <= 0:
            invalid.append(InvalidField(f"lines[{i}].quantity", "must be positive"))
        if line.unit_price < 0:
            invalid.append(InvalidField(f"lines[{i}].unit_price", "must not be negative"))
        if line.sku in seen:
            invalid.append(InvalidField(f"lines[{i}].sku", f"{line.sku} appears on more than one line"))
        seen.add(line.sku)
    return invalid


def invalid_skus(order: Order, active_by_sku: dict[str, bool]) -> list[InvalidField]:
    """Lines whose SKU is unknown (absent from the mapping) or inactive."""
    invalid: list[InvalidField] = []
    for i, line in enumerate(order.lines):
        active = active_by_sku.get(line.sku)
        if active is None:
            invalid.append(InvalidField(f"lines[{i}].sku", f"{line.sku} is not in the catalog"))
        elif not active:
            invalid.append(InvalidField(f"lines[{i}].sku", f"{line.sku} is not active"))
    return invalid


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    status: OrderStatus
    event: str
    detail: str = ""
    actor: str = "system"
