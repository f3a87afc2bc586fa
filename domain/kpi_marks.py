"""What one projected change tells the KPIs about its order, read off the change alone (no look back):
bits that, once set on the order, stay set (a touch reason, an error kind, shipped, settled ...), and the
times and units that go with them. store/kpi_rollup.py folds them into the order's row and the rollup.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from domain.kpis import (
    EARLY_WARNING_HOURS,
    ERROR_KINDS,
    SYSTEM_CANCELLED,
    TOUCH_REASONS,
    OrderFacts,
    error_kind_of_cancel,
    is_person,
    touch_reason,
)
from domain.steps import ProjectOrder

FIRST_ALLOCATION_KEY = "allocation:1"  # the timeline key of an order's first allocation attempt
SLA_AT_RISK = "sla_at_risk"
SHIPPED_STATUSES = frozenset({"shipped", "completed", "delivered"})
# An order goes into the rollup once it reaches one of these; what still changes after is added as a difference.
SETTLED_STATUSES = frozenset({"completed", "delivered", "cancelled"})

TOUCH_BITS = {reason: 1 << i for i, reason in enumerate(sorted(set(TOUCH_REASONS.values())))}
ERROR_BITS = {kind: 1 << (8 + i) for i, kind in enumerate(sorted(ERROR_KINDS | {SYSTEM_CANCELLED}))}
SHIPPED = 1 << 16  # fully shipped
DELIVERED = 1 << 17
COMPLETED = 1 << 18
SETTLED = 1 << 19
WARNED = 1 << 20
ALLOCATED = 1 << 21  # the first allocation attempt is recorded
WARNED_48H = 1 << 22  # the first warning came at least EARLY_WARNING_HOURS before ship-by
FACT_BITS = (
    sum(TOUCH_BITS.values()) | sum(ERROR_BITS.values()) | SHIPPED | DELIVERED | WARNED | ALLOCATED | WARNED_48H
)  # what an order's figures depend on
# How an unshipped order stands against its promise, when KPIs are asked (store/kpi_read.py).
NO_PROMISE, PROMISE_PASSED, PROMISE_AHEAD = 0, 1, 2


@dataclass(frozen=True)
class Marks:
    bits: int = 0
    shipped_at: datetime | None = None  # the latest shipment in the change
    delivered_at: datetime | None = None
    warned_at: datetime | None = None
    completed_at: datetime | None = None
    units_first: int | None = None  # with ALLOCATED: units reserved at the first allocation attempt
    people: list[tuple[datetime, str]] = field(default_factory=list)  # (when, who) of people acting

    def __bool__(self) -> bool:
        return bool(self.bits or self.shipped_at or self.delivered_at or self.warned_at or self.people)


def marks_of(change: ProjectOrder, units_reserved: int | None = None) -> Marks:
    """The marks of one change; `units_reserved`: what an allocation attempt in it reserved."""
    bits = 0
    shipped_at = completed_at = None
    units_first = None
    people = []
    for keyed in change.entries:
        entry = keyed.entry
        if (reason := touch_reason(entry.event, entry.actor)) is not None:
            bits |= TOUCH_BITS[reason]
        if entry.event == "cancelled" and (kind := error_kind_of_cancel(entry.actor)) is not None:
            bits |= ERROR_BITS[kind]
        if entry.event == "shipped":
            shipped_at = max(shipped_at or entry.at, entry.at)
        if entry.status.value == "completed":
            completed_at = min(completed_at or entry.at, entry.at)
        if keyed.key == FIRST_ALLOCATION_KEY:
            bits |= ALLOCATED
            units_first = (units_reserved or 0) if entry.event == "allocated" else 0
        if is_person(entry.actor):
            people.append((entry.at, entry.actor))
    for exception in change.exceptions:
        if exception.kind.value in ERROR_KINDS:
            bits |= ERROR_BITS[exception.kind.value]
    warnings = [alert.raised_at for alert in change.alerts if alert.kind == SLA_AT_RISK]
    status = change.status.value
    delivered_at = None
    if status in SHIPPED_STATUSES:
        bits |= SHIPPED
    if status == "delivered":
        bits |= DELIVERED
        delivered_at = max((keyed.entry.at for keyed in change.entries), default=None)
    if completed_at is not None or status == "completed":
        bits |= COMPLETED
    if status in SETTLED_STATUSES:
        bits |= SETTLED
    if warnings:
        bits |= WARNED
    return Marks(
        bits=bits,
        shipped_at=shipped_at,
        delivered_at=delivered_at,
        warned_at=min(warnings) if warnings else None,
        completed_at=completed_at,
        units_first=units_first,
        people=people,
    )


def order_facts(
    order_id: str,
    channel: str,
    received_at: datetime,
    status: str,
    ship_by: datetime | None,
    flags: int,
    shipped_at: datetime | None,
    delivered_at: datetime | None,
    warned_at: datetime | None,
    units_ordered: int,
    units_first: int | None,
) -> OrderFacts:
    """An order's KPI facts from what its row keeps, as the bits `flags` have them."""
    return OrderFacts(
        order_id=order_id,
        channel=channel,
        received_at=received_at,
        status=status,
        ship_by=ship_by,
        shipped_at=shipped_at if flags & SHIPPED else None,
        delivered_at=delivered_at if flags & DELIVERED else None,
        touches=frozenset(name for name, bit in TOUCH_BITS.items() if flags & bit),
        errors=frozenset(name for name, bit in ERROR_BITS.items() if flags & bit),
        units_ordered=units_ordered,
        units_first_allocation=units_first if flags & ALLOCATED else None,
        first_warning_at=warned_at if flags & WARNED else None,
    )


def flags_of(order: OrderFacts, completed: bool, settled: bool) -> int:
    """The bits of an order whose facts were read from the read model (the backfill)."""
    flags = sum(TOUCH_BITS[name] for name in order.touches) | sum(ERROR_BITS[name] for name in order.errors)
    for present, bit in (
        (order.shipped_at is not None, SHIPPED),
        (order.delivered_at is not None, DELIVERED),
        (order.first_warning_at is not None, WARNED),
        (order.units_first_allocation is not None, ALLOCATED),
        (completed, COMPLETED),
        (settled, SETTLED),
        (
            order.first_warning_at is not None
            and order.ship_by is not None
            and order.ship_by - order.first_warning_at >= timedelta(hours=EARLY_WARNING_HOURS),
            WARNED_48H,
        ),
    ):
        if present:
            flags |= bit
    return flags


def grouped_facts(
    flags: int, promise: int, units_ordered: int, units_first: int, received_at: datetime, now: datetime
) -> OrderFacts:
    """Unshipped, unsettled orders alike in their bits and how they stand against their promise, as one
    order carrying their units added up (domain.kpi_tally.add_order with `times`): its ship-by and
    warning stand for theirs, as far as the figures can tell them apart."""
    ship_by = None if promise == NO_PROMISE else now - timedelta(microseconds=1) if promise == PROMISE_PASSED else now
    warned = None
    if flags & WARNED and ship_by is not None:
        warned = ship_by - timedelta(hours=EARLY_WARNING_HOURS) if flags & WARNED_48H else ship_by
    return order_facts(
        "", "", received_at, "picking", ship_by, flags & ~SHIPPED & ~DELIVERED, None, None, warned,
        units_ordered, units_first,
    )  # fmt: skip
