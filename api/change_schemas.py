"""Request and response bodies for changes after the order: edits (and their preview), returns."""

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field

from api.problems import invalid
from api.schemas import Decimal, Money, Sku, StockLineOut, Strict
from domain.money import MoneyError, format_minor, to_minor
from domain.order_edits import SHIP_BY_AHEAD, EditOrder, EditPlan, LineChange
from domain.orders import InvalidField, Priority
from domain.returns import Disposition, ReturnStatus, ReturnView
from store.tables import ReturnRow

MAX_CHANGES = 500


class LineChangeIn(Strict):
    sku: Sku
    quantity: Annotated[int, Field(ge=0, le=100_000)] = Field(description="the line's new quantity; 0 removes it")
    unit_price: Decimal | None = Field(
        default=None, examples=["49.00"], description="required for a new line; else the line keeps its price"
    )


class EditIn(Strict):
    preview: bool = Field(default=False, description="true: show what the edit would do, change nothing")
    lines: Annotated[list[LineChangeIn], Field(default_factory=list, max_length=MAX_CHANGES)]
    priority: Priority | None = None
    ship_by: AwareDatetime | None = Field(
        default=None, description="a new ship-by promise: later than now, and the edit needs a `reason`"
    )
    reason: Annotated[str, Field(max_length=500)] = ""

    def to_domain(self, currency: str, actor: str, now: datetime) -> EditOrder:
        """The domain edit; 422 for prices finer than the order's currency allows, a ship-by that is not
        in the future, or a ship-by without a reason."""
        problems: list[InvalidField] = []
        if self.ship_by is not None and self.ship_by <= now:
            problems.append(InvalidField("ship_by", "must be in the future"))
        elif self.ship_by is not None and self.ship_by > now + SHIP_BY_AHEAD:
            problems.append(InvalidField("ship_by", f"must be at most {SHIP_BY_AHEAD.days} days ahead"))
        if self.ship_by is not None and not self.reason.strip():
            problems.append(InvalidField("reason", "required when ship_by changes"))
        changes: list[LineChange] = []
        for i, line in enumerate(self.lines):
            price = None
            if line.unit_price is not None:
                try:
                    price = to_minor(line.unit_price, currency)
                except MoneyError as err:
                    problems.append(InvalidField(f"lines[{i}].unit_price", str(err)))
                    continue
            changes.append(LineChange(line.sku, line.quantity, price))
        if problems:
            raise invalid(problems)
        return EditOrder(changes, self.priority, actor, self.reason, self.ship_by)


class EditedLineOut(BaseModel):
    sku: str
    quantity: int
    unit_price: Money
    total: Money


class NeededOut(BaseModel):
    sku: str
    quantity: int
    available: int = Field(description="available now across warehouses, before this order's own release")


class EditPreviewOut(BaseModel):
    """What committing the edit would do now; nothing has changed."""

    order_id: str
    preview: bool = True
    summary: str
    lines: list[EditedLineOut]
    total: Money
    difference: Money = Field(description="new total minus old total; negative when the order gets cheaper")
    priority: Priority
    ship_by: datetime | None = Field(description="the new ship-by promise; null when the edit keeps it")
    to_reserve: list[NeededOut] = Field(description="stock the edited order needs reserved again")
    to_release: list[StockLineOut] = Field(description="stock the parts it replaces give back")
    replaces: list[str] = Field(description="allocations not picked yet that the edit replaces")
    rules: str = Field(
        "", description="what the business rules, evaluated again on the edited order, would do; empty: nothing"
    )

    @classmethod
    def of(
        cls, order_id: str, plan: EditPlan, currency: str, available: dict[str, int], rules: str = ""
    ) -> "EditPreviewOut":
        return cls(
            rules=rules,
            order_id=order_id,
            summary=plan.summary,
            lines=[
                EditedLineOut(
                    sku=line.sku,
                    quantity=line.quantity,
                    unit_price=Money.of(line.unit_price, currency),
                    total=Money.of(line.total, currency),
                )
                for line in plan.lines
            ],
            total=Money.of(plan.total, currency),
            difference=Money(amount=signed(plan.difference, currency), currency=currency),
            priority=plan.priority,
            ship_by=plan.ship_by,
            to_reserve=[
                NeededOut(sku=line.sku, quantity=line.quantity, available=available.get(line.sku, 0))
                for line in plan.to_reserve
            ],
            to_release=[StockLineOut(sku=line.sku, quantity=line.quantity) for line in plan.to_release],
            replaces=[f.allocation.allocation_id for f in plan.dropped],
        )


def signed(minor: int, currency: str) -> str:
    return f"-{format_minor(-minor, currency)}" if minor < 0 else format_minor(minor, currency)


class ReturnLineIn(Strict):
    sku: Sku
    quantity: Annotated[int, Field(ge=1, le=100_000)]
    reason: Annotated[str, Field(max_length=200)] = ""


class ReturnIn(Strict):
    lines: Annotated[list[ReturnLineIn], Field(min_length=1, max_length=MAX_CHANGES)]
    note: Annotated[str, Field(max_length=500)] = ""


class DecisionIn(Strict):
    note: Annotated[str, Field(max_length=500)] = ""


class ReceivedLineIn(Strict):
    sku: Sku
    quantity: Annotated[int, Field(ge=1, le=100_000)]
    disposition: Disposition


class ReceiveIn(Strict):
    report_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")] = Field(
        description="the warehouse's reference for this report: the same report sent again acts once"
    )
    lines: Annotated[list[ReceivedLineIn], Field(min_length=1, max_length=MAX_CHANGES)]
    warehouse: Annotated[str, Field(min_length=1, max_length=32)] | None = Field(
        default=None, description="where restocked units go back on hand; the default warehouse if not given"
    )


class ReturnedLineOut(BaseModel):
    sku: str
    quantity: int
    reason: str = ""


class ReceivedLineOut(BaseModel):
    sku: str
    quantity: int
    disposition: Disposition


class ReturnEventOut(BaseModel):
    at: datetime
    event: str
    detail: str = ""
    actor: str = "system"


class ReturnOut(BaseModel):
    return_id: str
    order_id: str
    status: ReturnStatus
    lines: list[ReturnedLineOut]
    received: list[ReceivedLineOut] = []
    label: str | None = None
    credit_note: str | None = None
    refunded: Money
    events: list[ReturnEventOut] = []

    @classmethod
    def from_view(cls, view: ReturnView, currency: str) -> "ReturnOut":
        return cls(
            return_id=view.return_id,
            order_id=view.order_id,
            status=view.status,
            lines=[ReturnedLineOut(**vars(line)) for line in view.lines],
            received=[ReceivedLineOut(**vars(line)) for line in view.received],
            label=view.label,
            credit_note=view.credit_note,
            refunded=Money.of(view.refunded, currency),
            events=[ReturnEventOut(**vars(e)) for e in view.events],
        )

    @classmethod
    def from_row(cls, row: ReturnRow, credit_note: str | None) -> "ReturnOut":
        return cls(
            return_id=row.return_id,
            order_id=row.order_id,
            status=ReturnStatus(row.status),
            lines=[ReturnedLineOut(**line) for line in row.lines],
            received=[ReceivedLineOut(**line) for line in row.received or []],
            label=row.label,
            credit_note=credit_note,
            refunded=Money.of(row.refunded, row.currency),
            events=[ReturnEventOut(**e) for e in row.events],
        )


class ReturnListOut(BaseModel):
    returns: list[ReturnOut]
