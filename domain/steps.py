"""What crosses the workflow/activity boundary: one dataclass in, one dataclass out per step."""

from dataclasses import dataclass, field
from datetime import datetime

from domain.orders import Address, Order, OrderException, OrderStatus, TimelineEntry


@dataclass(frozen=True)
class StockLine:
    sku: str
    quantity: int


@dataclass(frozen=True)
class ConfirmOrder:
    order: Order
    received_at: datetime
    # Used only if the order turns out to be invalid: the workflow owns exception identities.
    exception_id: str


@dataclass(frozen=True)
class OrderConfirmed:
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class ReserveStock:
    order_id: str
    lines: list[StockLine]
    shortage_exception_id: str


@dataclass(frozen=True)
class Shortage:
    sku: str
    requested: int
    available: int


@dataclass(frozen=True)
class StockReserved:
    warehouse: str
    reserved: list[StockLine] = field(default_factory=list)
    shortages: list[Shortage] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.shortages


@dataclass(frozen=True)
class CreatePickList:
    order_id: str
    warehouse: str
    lines: list[StockLine]


@dataclass(frozen=True)
class PickListCreated:
    pick_list_id: str
    # Set when the warehouse confirms by itself (built-in warehouse in auto mode).
    auto_confirm_after_seconds: float | None = None


@dataclass(frozen=True)
class PickConfirmation:
    pick_list_id: str
    confirmed_by: str = "warehouse"


@dataclass(frozen=True)
class BookShipment:
    order_id: str
    warehouse: str
    pick_list_id: str
    lines: list[StockLine]
    ship_to: Address
    picked_at: datetime
    picked_by: str


@dataclass(frozen=True)
class ShipmentBooked:
    shipment_id: str
    carrier: str
    tracking_number: str


@dataclass(frozen=True)
class IssueInvoice:
    order_id: str
    amount: int
    currency: str


@dataclass(frozen=True)
class InvoiceIssued:
    number: str
    amount: int
    currency: str


@dataclass(frozen=True)
class RecordStatus:
    """Projection of a status change that no step's own write carries (a parked step, say)."""

    order_id: str
    status: OrderStatus
    event_key: str
    entry: TimelineEntry
    exception: OrderException | None = None


@dataclass
class OrderView:
    order_id: str
    status: OrderStatus
    order: Order
    total: int
    reservation: StockReserved | None = None
    pick_list: PickListCreated | None = None
    picked_at: datetime | None = None
    shipment: ShipmentBooked | None = None
    invoice: InvoiceIssued | None = None
    exceptions: list[OrderException] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)

    @property
    def open_exceptions(self) -> list[OrderException]:
        return [e for e in self.exceptions if e.is_open]
