"""The return rate KPI (`returns` in GET /v1/kpis, docs/kpis.md): what came back of what shipped, for the
orders of a window. Facts read by store/return_kpis.py; arithmetic only here."""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

# Return dispositions of units that came back (`missing` ones did not).
RETURNED = ("restock", "damaged")


@dataclass(frozen=True)
class ReturnFacts:
    """One return of an order of the window (store/return_kpis.py)."""

    order_id: str
    status: str
    requested: int  # units asked for
    received: dict[str, int] = field(default_factory=dict)  # units per disposition, once the warehouse reported


@dataclass(frozen=True)
class Shipped:
    """What left for the orders of the window: orders with a shipment, and their units shipped."""

    orders: int = 0
    units: int = 0


@dataclass(frozen=True)
class ReturnRate:
    units_shipped: int
    units_returned: int  # came back: reported `restock` or `damaged`
    rate: float | None  # units_returned ÷ units_shipped
    orders_shipped: int
    orders_returned: int  # orders with units that came back
    order_rate: float | None
    by_disposition: dict[str, int]  # units per disposition reported, `missing` included
    pending_units: int  # on returns requested or approved, not reported yet


def return_rate(shipped: Shipped, returns: Iterable[ReturnFacts]) -> ReturnRate:
    """Units that came back ÷ units shipped, and orders with returned units ÷ orders shipped. Units
    reported `missing` did not come back; declined and expired returns bring nothing back."""
    by_disposition: Counter[str] = Counter()
    returned_orders: set[str] = set()
    pending = 0
    for r in returns:
        if r.status in ("requested", "approved"):
            pending += r.requested
        by_disposition.update(r.received)
        if any(units for disposition, units in r.received.items() if disposition in RETURNED):
            returned_orders.add(r.order_id)
    units = sum(by_disposition[d] for d in RETURNED)
    return ReturnRate(
        units_shipped=shipped.units,
        units_returned=units,
        rate=units / shipped.units if shipped.units else None,
        orders_shipped=shipped.orders,
        orders_returned=len(returned_orders),
        order_rate=len(returned_orders) / shipped.orders if shipped.orders else None,
        by_disposition=dict(sorted(by_disposition.items())),
        pending_units=pending,
    )
