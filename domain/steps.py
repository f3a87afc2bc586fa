"""What crosses the workflow/activity boundary: one dataclass in, one dataclass out per step."""

from dataclasses import dataclass, field
from datetime import datetime

from domain.exceptions import Action, OrderException
from domain.orders import Address, Order, OrderLine, OrderStatus, Priority, TimelineEntry
from domain.policy import RuleFiring


@dataclass(frozen=True)
class StockLine:
    sku: str
    quantity: int


def describe_missing(lines: list[StockLine]) -> str:
    """What an order waits for, for people: "2 x SKU-1, 1 x SKU-2"."""
    return ", ".join(f"{line.quantity} x {line.sku}" for line in lines)


@dataclass(frozen=True)
class ConfirmOrder:
    order: Order
    received_at: datetime
    ship_by: datetime
    seq: int = 0
    rules: list[RuleFiring] = field(default_factory=list)  # the business rules that fired at submission


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
    ship_to: Address
    rush: bool
    received_at: datetime
    # Allocation IDs of this attempt are numbered from here: "{order_id}.{n}".
    first_allocation: int = 1
    attempt: int = 1  # the order's how-manieth try at allocating, for its timeline entry
    allow_split: bool = True
    allow_partial: bool = False
    seq: int = 0
    # Business rules: warehouses to ship from (preferred, or the only ones); SKUs of gift lines that
    # ship only if in stock now (the order goes on without them otherwise).
    route: list[str] = field(default_factory=list)
    route_only: bool = False
    optional: list[str] = field(default_factory=list)
    # An edit replaces these allocations (not picked yet): their pick lists close and their stock is
    # released in the same transaction that reserves again, so no other order takes it in between.
    replaces: list[str] = field(default_factory=list)
    replaces_pick_lists: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class WaitingOrders:
    skus: list[str]


@dataclass(frozen=True)
class Restock:
    """Stock came in (a receipt, a count that went up): wake the orders waiting for these SKUs."""

    source: str
    warehouse: str
    skus: list[str]


@dataclass(frozen=True)
class Allocation:
    """Stock reserved in one warehouse for one shipment of the order."""

    allocation_id: str
    warehouse: str
    lines: list[StockLine]
    reason: str = ""


@dataclass(frozen=True)
class StockReserved:
    allocations: list[Allocation] = field(default_factory=list)
    backordered: list[StockLine] = field(default_factory=list)
    reason: str = ""


@dataclass(frozen=True)
class CreatePickList:
    order_id: str
    allocation: Allocation
    status: OrderStatus  # what the order's status is once the pick list exists
    seq: int = 0


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
    allocation: Allocation
    pick_list_id: str
    ship_to: Address
    picked_at: datetime
    picked_by: str
    status: OrderStatus
    seq: int = 0


@dataclass(frozen=True)
class ShipmentBooked:
    shipment_id: str
    carrier: str
    tracking_number: str


@dataclass(frozen=True)
class IssueInvoice:
    order_id: str
    allocation_id: str
    shipment_id: str
    amount: int
    currency: str
    lines: list[OrderLine]
    status: OrderStatus
    seq: int = 0


@dataclass(frozen=True)
class InvoiceIssued:
    number: str
    amount: int
    currency: str


@dataclass(frozen=True)
class KeyedEntry:
    """A timeline entry with the key that makes its projection land once."""

    key: str
    entry: TimelineEntry
    # What a business event about this entry carries beyond its text (a shipment's carrier and tracking).
    facts: dict[str, str] = field(default_factory=dict)


class AlertKind:
    EXCEPTION_OPENED = "exception_opened"
    EXCEPTION_REMINDER = "exception_reminder"
    EXCEPTION_ESCALATED = "exception_escalated"
    SLA_AT_RISK = "sla_at_risk"
    SLA_BREACHED = "sla_breached"


@dataclass(frozen=True)
class Alert:
    """Something a person should know now. Stored, logged, and (later) delivered as an event."""

    alert_id: str
    kind: str
    order_id: str
    message: str
    raised_at: datetime
    level: int = 0  # 0 assignee, 1 reminder, 2 manager
    exception_id: str | None = None


@dataclass(frozen=True)
class ProjectOrder:
    """A change that no step's own write carries: exceptions, escalations, controls, alerts."""

    order_id: str
    status: OrderStatus
    entries: list[KeyedEntry] = field(default_factory=list)
    exceptions: list[OrderException] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    at_risk: bool | None = None
    ship_to: Address | None = None
    # Orders the read model's status writes: an older write arriving late (a slow retry) cannot win.
    seq: int = 0
    # An edit: the order's lines (and with them its total), priority and ship-by promise as they now are.
    lines: list[OrderLine] | None = None
    priority: Priority | None = None
    ship_by: datetime | None = None


@dataclass(frozen=True)
class CancelOrder:
    """Undo what was done, newest first: the open pick list, then the reservation."""

    order_id: str
    reason: str
    projection: ProjectOrder


@dataclass(frozen=True)
class OrderCancelled:
    released: list[StockLine] = field(default_factory=list)
    pick_lists_cancelled: list[str] = field(default_factory=list)


# Requests from people, through updates.


@dataclass(frozen=True)
class OutsideUpdate:
    """An update that reached the order without going through the API: who it says sent it (unverified
    text), which update, and its Temporal update ID (the audit row's key)."""

    order_id: str
    update: str
    update_id: str
    actor: str


@dataclass(frozen=True)
class ResolveException:
    exception_id: str
    action: Action
    actor: str = "operations"
    note: str = ""
    ship_to: Address | None = None  # with change_address


@dataclass(frozen=True)
class CancelRequest:
    reason: str
    actor: str = "operations"


@dataclass(frozen=True)
class ReleaseRemainder:
    """Give back what an order holds for parts that will not ship: their pick lists close, their
    reservations go back to available stock and the order stops waiting for its backordered lines."""

    order_id: str
    allocation_ids: list[str]
    pick_list_ids: list[str]
    reason: str
    projection: ProjectOrder


@dataclass(frozen=True)
class HoldRequest:
    reason: str
    actor: str = "operations"
    until: datetime | None = None


@dataclass(frozen=True)
class ControlRequest:
    """release, approve, reject: who and why."""

    actor: str = "operations"
    note: str = ""


@dataclass(frozen=True)
class ChangeAddress:
    ship_to: Address
    actor: str = "operations"
    note: str = ""


@dataclass
class Fulfilment:
    """One shipment of the order, from one warehouse: pick list, parcel, invoice."""

    allocation: Allocation
    pick_list: PickListCreated | None = None
    picked_at: datetime | None = None
    picked_by: str | None = None
    shipment: ShipmentBooked | None = None
    invoice: InvoiceIssued | None = None
    cancelled: bool = False
    # What the carrier reported after shipping (partner callbacks).
    handed_over_at: datetime | None = None
    delivered_at: datetime | None = None
    received_by: str | None = None
    returned: bool = False  # delivery failed and a person settled it outside (returned to sender)


@dataclass
class OrderView:
    order_id: str
    status: OrderStatus
    order: Order
    total: int
    ship_by: datetime | None = None
    at_risk: bool = False
    hold: HoldRequest | None = None
    # What will ship, and where: a person may have cut lines to what is available or changed the address.
    lines: list[OrderLine] = field(default_factory=list)
    ship_to: Address | None = None
    fulfilments: list[Fulfilment] = field(default_factory=list)
    backordered: list[StockLine] = field(default_factory=list)
    allocation_reason: str = ""
    exceptions: list[OrderException] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    rules: list[RuleFiring] = field(default_factory=list)  # business rules that fired at submission
    tags: list[str] = field(default_factory=list)

    @property
    def open_exceptions(self) -> list[OrderException]:
        return [e for e in self.exceptions if e.is_open]
