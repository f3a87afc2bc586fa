"""Order bodies: submission, the order view, people's controls, the exception and alert queues, pick lists."""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from api.change_schemas import ReturnOut
from api.problems import invalid
from api.schemas import MAX_LINES, Currency, Decimal, Money, ShortText, Sku, StockLineOut, Strict, Text
from domain.exceptions import Action, ExceptionKind
from domain.money import MoneyError, to_minor
from domain.orders import (
    CHANNEL_PATTERN,
    EXTERNAL_ID_PATTERN,
    Address,
    Customer,
    InvalidField,
    Order,
    OrderLine,
    OrderStatus,
    Priority,
)
from domain.steps import OrderView


class CustomerIn(Strict):
    id: ShortText
    name: Text
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]


class AddressIn(Strict):
    name: Text
    line1: Text
    line2: Text | None = None
    city: Text
    region: Text | None = None
    postal_code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)]
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = Field(description="ISO 3166-1 alpha-2")


class LineIn(Strict):
    sku: Sku
    quantity: Annotated[int, Field(ge=1, le=100_000)]
    unit_price: Decimal = Field(examples=["49.00"])


class SubmitOrder(Strict):
    channel: Annotated[str, StringConstraints(pattern=CHANNEL_PATTERN)] = Field(examples=["web"])
    external_id: Annotated[str, StringConstraints(pattern=EXTERNAL_ID_PATTERN)] = Field(examples=["WEB-10001"])
    customer: CustomerIn
    ship_to: AddressIn
    lines: Annotated[list[LineIn], Field(min_length=1, max_length=MAX_LINES)]
    currency: Currency = Field(examples=["CNY"])
    ship_by: AwareDatetime | None = None
    priority: Priority = Priority.STANDARD

    def to_domain(self) -> Order:
        """The domain order; raises 422 for prices finer than the currency allows."""
        invalid_fields: list[InvalidField] = []
        lines: list[OrderLine] = []
        for i, line in enumerate(self.lines):
            try:
                price = to_minor(line.unit_price, self.currency)
            except MoneyError as err:
                invalid_fields.append(InvalidField(f"lines[{i}].unit_price", str(err)))
                continue
            lines.append(OrderLine(sku=line.sku, quantity=line.quantity, unit_price=price))
        if invalid_fields:
            raise invalid(invalid_fields)
        return Order(
            channel=self.channel,
            external_id=self.external_id,
            customer=Customer(**self.customer.model_dump()),
            ship_to=Address(**self.ship_to.model_dump()),
            lines=lines,
            currency=self.currency,
            ship_by=self.ship_by,
            priority=self.priority,
        )


class OrderAccepted(BaseModel):
    order_id: str
    status: OrderStatus
    workflow_id: str
    existing: bool = Field(description="true when this order had been submitted before")


class LineOut(BaseModel):
    sku: str
    quantity: int = Field(description="ordered")
    allocated: int = 0
    shipped: int = 0
    invoiced: int = 0
    unit_price: Money
    total: Money
    gift: bool = Field(False, description="added at zero price by a business rule")


class RuleFiringOut(BaseModel):
    rule: str = Field(description="rule_id@version")
    name: str
    did: list[str]
    overridden: list[str] = []


class TimelineOut(BaseModel):
    at: datetime
    status: OrderStatus
    event: str
    detail: str
    actor: str


class ExceptionOut(BaseModel):
    exception_id: str
    kind: ExceptionKind
    step: str
    message: str
    raised_at: datetime
    escalation_level: int = 0
    allowed_actions: list[Action] = []
    resolved_at: datetime | None = None
    resolution: Action | None = None
    resolved_by: str | None = None
    note: str = ""


class HoldOut(BaseModel):
    reason: str
    actor: str
    until: datetime | None = None


class ShipmentOut(BaseModel):
    shipment_id: str
    carrier: str
    tracking_number: str
    # Reported by the carrier (partner callbacks).
    handed_over_at: datetime | None = None
    delivered_at: datetime | None = None
    received_by: str | None = None


class InvoiceOut(BaseModel):
    number: str
    amount: Money


class FulfilmentOut(BaseModel):
    """One shipment of the order from one warehouse: its pick list, parcel and invoice."""

    allocation_id: str
    warehouse: str
    lines: list[StockLineOut]
    reason: str = ""
    pick_list_id: str | None = None
    picked_at: datetime | None = None
    picked_by: str | None = None
    shipment: ShipmentOut | None = None
    invoice: InvoiceOut | None = None
    cancelled: bool = False


class OrderOut(BaseModel):
    order_id: str
    status: OrderStatus
    channel: str
    external_id: str
    customer: CustomerIn
    ship_to: AddressIn
    lines: list[LineOut]
    total: Money
    priority: Priority
    ship_by: datetime | None = Field(description="the delivery promise: as submitted, or the default for the priority")
    at_risk: bool = False
    hold: HoldOut | None = None
    allocation_reason: str = ""
    fulfilments: list[FulfilmentOut] = []
    backordered: list[StockLineOut] = []
    expected_inbound: list[dict[str, Any]] = Field(
        [],
        description=(
            "for each backordered SKU: the open inbound by which enough of it is due (soonest first, "
            "quantities added up), and whether it comes after ship_by; a SKU no inbound covers is left out"
        ),
    )
    exceptions: list[ExceptionOut] = []
    timeline: list[TimelineOut] = []
    rules: list[RuleFiringOut] = Field([], description="business rules that fired when the order was submitted")
    tags: list[str] = []
    returns: list[ReturnOut] = Field(
        [], description="the order's returns, oldest first: status, lines, what arrived, the refund and its credit note"
    )

    @classmethod
    def from_view(cls, view: OrderView) -> "OrderOut":
        order, cur = view.order, view.order.currency
        fulfilments = [
            FulfilmentOut(
                allocation_id=f.allocation.allocation_id,
                warehouse=f.allocation.warehouse,
                lines=[StockLineOut(sku=line.sku, quantity=line.quantity) for line in f.allocation.lines],
                reason=f.allocation.reason,
                pick_list_id=f.pick_list.pick_list_id if f.pick_list else None,
                picked_at=f.picked_at,
                picked_by=f.picked_by,
                shipment=ShipmentOut(
                    **vars(f.shipment),
                    handed_over_at=f.handed_over_at,
                    delivered_at=f.delivered_at,
                    received_by=f.received_by,
                )
                if f.shipment
                else None,
                invoice=InvoiceOut(number=f.invoice.number, amount=Money.of(f.invoice.amount, cur))
                if f.invoice
                else None,
                cancelled=f.cancelled,
            )
            for f in view.fulfilments
        ]
        return cls(
            order_id=view.order_id,
            status=view.status,
            channel=order.channel,
            external_id=order.external_id,
            customer=CustomerIn.model_construct(**vars(order.customer)),
            ship_to=AddressIn.model_construct(**vars(view.ship_to or order.ship_to)),
            lines=line_progress(order.lines, cur, fulfilments),
            total=Money.of(view.total, cur),
            priority=order.priority,
            ship_by=view.ship_by or order.ship_by,
            at_risk=view.at_risk,
            hold=HoldOut(**vars(view.hold)) if view.hold else None,
            allocation_reason=view.allocation_reason,
            fulfilments=fulfilments,
            backordered=[StockLineOut(sku=line.sku, quantity=line.quantity) for line in view.backordered],
            exceptions=[ExceptionOut(**vars(e)) for e in view.exceptions],
            timeline=[TimelineOut(**vars(t)) for t in view.timeline],
            rules=[RuleFiringOut(**vars(f)) for f in view.rules],
            tags=list(view.tags),
        )


def line_progress(lines: list[OrderLine], currency: str, fulfilments: list[FulfilmentOut]) -> list[LineOut]:
    """Ordered, allocated, shipped and invoiced quantities of each line."""

    def total(sku: str, counts: Callable[[FulfilmentOut], bool]) -> int:
        return sum(line.quantity for f in fulfilments if counts(f) for line in f.lines if line.sku == sku)

    return [
        LineOut(
            sku=line.sku,
            quantity=line.quantity,
            allocated=total(line.sku, lambda f: not f.cancelled),
            shipped=total(line.sku, lambda f: f.shipment is not None),
            invoiced=total(line.sku, lambda f: f.invoice is not None),
            unit_price=Money.of(line.unit_price, currency),
            total=Money.of(line.total, currency),
            gift=line.gift,
        )
        for line in lines
    ]


class ResolveIn(Strict):
    action: Action
    note: Annotated[str, StringConstraints(max_length=1000)] = ""
    ship_to: AddressIn | None = Field(default=None, description="the new address, with change_address")


class CancelIn(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


class HoldIn(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
    until: AwareDatetime | None = Field(default=None, description="the hold releases itself then")


class NoteIn(Strict):
    note: Annotated[str, StringConstraints(max_length=1000)] = ""


class ChangeAddressIn(Strict):
    ship_to: AddressIn
    note: Annotated[str, StringConstraints(max_length=1000)] = ""


class ExceptionListItem(BaseModel):
    exception_id: str
    order_id: str
    order_summary: str
    order_status: OrderStatus
    kind: ExceptionKind
    step: str
    message: str
    raised_at: datetime
    age_seconds: int
    escalation_level: int
    allowed_actions: list[Action]
    resolved_at: datetime | None = None
    resolution: str | None = None


class ExceptionPage(BaseModel):
    items: list[ExceptionListItem]
    next_cursor: str | None


class AlertOut(BaseModel):
    alert_id: str
    kind: str
    order_id: str
    exception_id: str | None
    level: int
    message: str
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None


class AlertPage(BaseModel):
    items: list[AlertOut]
    next_cursor: str | None


class OrderSummary(BaseModel):
    order_id: str
    status: OrderStatus
    channel: str
    external_id: str
    customer_id: str
    total: Money
    created_at: datetime
    updated_at: datetime


class OrderPage(BaseModel):
    items: list[OrderSummary]
    next_cursor: str | None


class PickConfirmIn(Strict):
    confirmed_by: ShortText | None = Field(default=None, description="who picked; the API key's name if absent")


class PickConfirmed(BaseModel):
    pick_list_id: str
    order_id: str
    accepted: bool
