"""What each KPI means, as served by GET /v1/kpis/definitions (docs/kpis.md says the same at length)."""

from dataclasses import dataclass

from domain.kpis import EARLY_WARNING_HOURS, ERROR_KINDS, TOUCH_REASONS


@dataclass(frozen=True)
class Definition:
    name: str  # the field of GET /v1/kpis
    formula: str
    starts: str
    ends: str
    counts: str
    caveats: str


_TOUCHES = ", ".join(sorted(TOUCH_REASONS))
_ERRORS = ", ".join(sorted(ERROR_KINDS))

DEFINITIONS: tuple[Definition, ...] = (
    Definition(
        "cycle_time",
        "p50 and p90 (nearest rank) of hours from received to shipped, and from received to delivered; "
        "without a warehouse or carrier filter, within 4.4 % (the rollup's bins, docs/kpis.md)",
        "the order's received time (orders.created_at)",
        "shipped: the last shipment's shipped_at, for fully shipped orders (status shipped, completed or "
        "delivered, or every ordered unit shipped); "
        "delivered: the last shipment's delivered_at, for orders delivered",
        "orders received in the window that have reached the end point",
        "a recent window is censored: orders not shipped yet are not in it, so its figures look better until they ship",
    ),
    Definition(
        "manual_intervention",
        "orders a person acted on ÷ orders received; breakdown: orders per reason",
        "received in the window",
        "any time later",
        f"a timeline entry by an actor key:<name> of these events: {_TOUCHES} (approved and rejected count as "
        "approval, held and released as hold); pick confirmations are work, not intervention; a hold that "
        "expires by itself is not a touch",
        "an order touched for several reasons counts once in the rate and once under each reason",
    ),
    Definition(
        "touchless",
        "1 - manual_intervention: orders no person acted on ÷ orders received",
        "received in the window",
        "any time later",
        "as manual_intervention",
        "an order still in flight may be touched later",
    ),
    Definition(
        "errors",
        "orders with an error outcome ÷ orders received; breakdown: orders per kind",
        "received in the window",
        "any time later",
        f"an exception of kind {_ERRORS}, or a cancellation by anyone but a person (system_cancelled)",
        "an exception resolved later still counts: the order met an error",
    ),
    Definition(
        "on_time_ship",
        "orders shipped by ship_by ÷ (those + late ones)",
        "received in the window, with a ship_by",
        "the last shipment's shipped_at compared with ship_by",
        "late: shipped after ship_by, or not shipped and ship_by has passed; pending (not shipped, ship_by "
        "ahead) and cancelled unshipped orders are left out",
        "ship_by is the promise as it stands: an edit that moves it (with a reason) moves what on time means",
    ),
    Definition(
        "fill_rate",
        "units reserved at the order's first allocation ÷ units ordered",
        "received in the window and allocated at least once",
        "the first allocation attempt",
        "a first attempt that backordered everything reserves 0 units",
        "measures stock on hand when it was needed, not what shipped later",
    ),
    Definition(
        "early_warning",
        "hours from the first sla_at_risk alert to ship_by (p50, min); breaches warned at least "
        f"{EARLY_WARNING_HOURS} h ahead ÷ breaches",
        "the order's first sla_at_risk alert",
        "ship_by",
        "warned: an order with an sla_at_risk alert; breach: late as in on_time_ship",
        "orders never warned have no lead time; a breach without a warning counts as not warned",
    ),
    Definition(
        "exception_response",
        "per kind: p50 and p90 hours from opened to the first human action, and to resolution",
        "the exception's raised_at, in the window",
        "first human action: resolved by key:<name>, or one of its alerts acknowledged by key:<name> "
        "at or before the resolution; "
        "resolution: resolved_at, by anyone",
        "every exception raised in the window; open ones count in `open` only",
        "an exception that cleared by itself has a resolution time and no human action",
    ),
    Definition(
        "throughput",
        "orders completed per person per day: Σ completed on days people acted ÷ Σ distinct people per day",
        "the completed timeline entry, in the window (UTC days)",
        "—",
        "people: distinct key:<name> actors on any timeline entry that day (picks included)",
        "days with completions but nobody acting are left out of the ratio and counted in days_without_people",
    ),
    Definition(
        "returns",
        "units that came back on returns (restock or damaged) ÷ units shipped; orders with such units ÷ orders shipped",
        "orders received in the window; their shipments and returns whenever they happened",
        "the warehouse's receipt report",
        "shipped: reservations consumed by a shipment; missing units, declined and expired returns bring "
        "nothing back; units on returns not reported yet are pending_units",
        "returns come weeks after shipping: a recent window looks better than it will",
    ),
)
