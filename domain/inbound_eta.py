"""What a backordered order can expect from inbound stock: by when enough of each SKU it waits for is
due, and whether that is after its ship-by promise.

Pure. The order's workflow reads the open inbound through an activity and decides here whether to warn;
the API's order view answers `expected_inbound` with the same rule.
"""

from dataclasses import dataclass
from datetime import datetime

from domain.steps import StockLine


@dataclass(frozen=True)
class ExpectedInbound:
    """One open inbound line still to come."""

    inbound_id: str
    reference: str
    warehouse: str
    sku: str
    outstanding: int
    expected_at: datetime


@dataclass(frozen=True)
class InboundFor:
    """Ask for the open inbound of these SKUs."""

    skus: list[str]


@dataclass(frozen=True)
class Arrival:
    """A line the order waits for, and the inbound by which enough of it will have come (None: the open
    inbound of the SKU is less than the quantity waited for, or there is none)."""

    sku: str
    quantity: int
    inbound: ExpectedInbound | None

    def describe(self) -> str:
        if self.inbound is None:
            return f"{self.quantity} x {self.sku}: no inbound covers it"
        i = self.inbound
        where = f"{i.inbound_id} ({i.reference}) at {i.warehouse}"
        return f"{self.quantity} x {self.sku}: {where}, expected {i.expected_at.isoformat()}"

    def after(self, ship_by: datetime | None) -> bool:
        return ship_by is not None and self.inbound is not None and self.inbound.expected_at > ship_by


def arrivals(waiting: list[StockLine], expected: list[ExpectedInbound]) -> list[Arrival]:
    """For each line waited for: the inbound, soonest first, by which its outstanding quantities add up to
    what the line needs. Other orders waiting for the same SKU are not counted against it."""
    found = []
    for line in waiting:
        inbound = None
        total = 0
        for e in sorted((e for e in expected if e.sku == line.sku), key=lambda e: (e.expected_at, e.inbound_id)):
            total += e.outstanding
            if total >= line.quantity:
                inbound = e
                break
        found.append(Arrival(line.sku, line.quantity, inbound))
    return found


def summary(found: list[Arrival]) -> str:
    """The timeline's line about what is inbound for the order; empty when nothing is."""
    if all(a.inbound is None for a in found):
        return ""
    return "; ".join(a.describe() for a in found)


def late_message(found: list[Arrival], ship_by: datetime) -> str:
    """The warning's text when inbound comes after the promise; empty when it does not."""
    late = [a for a in found if a.after(ship_by)]
    if not late:
        return ""
    return f"inbound arrives after ship-by {ship_by.isoformat()}: " + "; ".join(a.describe() for a in late)


@dataclass(frozen=True)
class InboundNotice:
    """An inbound was announced, moved or closed: tell the orders waiting for its SKUs."""

    inbound_id: str
    skus: list[str]
