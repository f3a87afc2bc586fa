"""The per-order KPI facts (table order_kpi_facts): one narrow row per order, so a window of orders is
aggregated in SQL (store/kpis.py) instead of read fact by fact.

`refresh` rewrites the rows of some orders from the read model and moves the hourly rollup (table
kpi_rollup: counts per hour and channel) by the difference; the projection calls it for its order
in the transaction that changes the order (store/orders.project), and migration 0016_kpi_facts calls
`backfill` for every order already there. What a row says is decided here once, by the same statements
either way: statements() reads the facts of a set of orders, rows() turns them into rows.
"""

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Executable, Table, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from domain.kpis import (
    EARLY_WARNING_HOURS,
    ERROR_BITS,
    ERROR_KINDS,
    TOUCH_BITS,
    TOUCH_REASONS,
    error_kind_of_cancel,
    hours,
    mask_of,
    names_of,
    touch_reason,
)
from store.tables import (
    KPI_ROLLUP,
    ROLLUP_COUNTERS,
    AlertRow,
    KpiFactRow,
    OrderEvent,
    OrderExceptionRow,
    OrderLineRow,
    OrderRow,
    Reservation,
    Shipment,
)

FACTS: Table = KpiFactRow.__table__  # type: ignore[assignment]
FIRST_ALLOCATION_KEY = "allocation:1"  # the timeline key of an order's first allocation attempt
SLA_AT_RISK = "sla_at_risk"
COMPLETED = "completed"
SHIPPED_STATUSES = ("shipped", "completed", "delivered")
BACKFILL_BATCH = 5000

Rows = Sequence[Any]


def statements(order_ids: Sequence[str]) -> dict[str, Executable]:
    """What the facts of these orders are made of, one statement per source."""
    ids = list(order_ids)
    earliest = (
        select(Reservation.order_id, func.min(Reservation.created_at).label("at"))
        .where(Reservation.order_id.in_(ids))
        .group_by(Reservation.order_id)
        .subquery()
    )
    return {
        "orders": select(
            OrderRow.order_id, OrderRow.channel, OrderRow.created_at, OrderRow.ship_by, OrderRow.status
        ).where(OrderRow.order_id.in_(ids)),
        "shipments": select(
            Shipment.order_id,
            func.max(Shipment.shipped_at),
            func.max(Shipment.delivered_at),
            func.count(),
            func.count(Shipment.delivered_at),
        )
        .where(Shipment.order_id.in_(ids))
        .group_by(Shipment.order_id),
        "events": select(OrderEvent.order_id, OrderEvent.key, OrderEvent.event, OrderEvent.actor).where(
            OrderEvent.order_id.in_(ids), OrderEvent.event.in_(sorted({*TOUCH_REASONS, "allocated", "backordered"}))
        ),
        "completed": select(OrderEvent.order_id, func.min(OrderEvent.occurred_at))
        .where(OrderEvent.order_id.in_(ids), OrderEvent.status == COMPLETED)
        .group_by(OrderEvent.order_id),
        "error_exceptions": select(OrderExceptionRow.order_id, OrderExceptionRow.kind)
        .where(OrderExceptionRow.order_id.in_(ids), OrderExceptionRow.kind.in_(sorted(ERROR_KINDS)))
        .distinct(),
        "units": select(OrderLineRow.order_id, func.sum(OrderLineRow.quantity))
        .where(OrderLineRow.order_id.in_(ids))
        .group_by(OrderLineRow.order_id),
        # One reserve call writes all of an attempt's reservations with one timestamp: the earliest is the first.
        "first_units": select(Reservation.order_id, func.sum(Reservation.quantity))
        .join(earliest, (earliest.c.order_id == Reservation.order_id) & (earliest.c.at == Reservation.created_at))
        .group_by(Reservation.order_id),
        # Reservations are consumed as their parcel ships: an order needing attention after it shipped
        # everything (a failed delivery) is still fully shipped.
        "consumed": select(Reservation.order_id, func.sum(Reservation.quantity))
        .where(Reservation.order_id.in_(ids), Reservation.state == "consumed")
        .group_by(Reservation.order_id),
        "warnings": select(AlertRow.order_id, func.min(AlertRow.raised_at))
        .where(AlertRow.order_id.in_(ids), AlertRow.kind == SLA_AT_RISK)
        .group_by(AlertRow.order_id),
    }


def rows(results: Mapping[str, Rows]) -> list[dict[str, Any]]:
    """The order_kpi_facts rows of the orders, from what statements() read."""
    shipped: dict[str, tuple[datetime | None, datetime | None]] = {}
    for order_id, last_shipped, last_delivered, shipments, delivered in results["shipments"]:
        complete = last_delivered is not None and delivered == shipments
        shipped[order_id] = (_maybe_utc(last_shipped), _maybe_utc(last_delivered) if complete else None)
    touches: dict[str, set[str]] = defaultdict(set)
    errors: dict[str, set[str]] = defaultdict(set)
    first_allocation: dict[str, str] = {}
    for order_id, key, event, actor in results["events"]:
        if key == FIRST_ALLOCATION_KEY:
            first_allocation[order_id] = event
        if (reason := touch_reason(event, actor)) is not None:
            touches[order_id].add(reason)
        if event == "cancelled" and (kind := error_kind_of_cancel(actor)) is not None:
            errors[order_id].add(kind)
    for order_id, kind in results["error_exceptions"]:
        errors[order_id].add(kind)
    units, first_units, consumed, warnings, completed = (
        {row[0]: row[1] for row in results[name]}
        for name in ("units", "first_units", "consumed", "warnings", "completed")
    )

    out = []
    for order_id, channel, received, ship_by_at, status in results["orders"]:
        received_at = _utc(received)
        ship_by = _maybe_utc(ship_by_at)
        shipped_at, delivered_at = shipped.get(order_id, (None, None))
        ordered = int(units.get(order_id) or 0)
        fully_shipped = status in SHIPPED_STATUSES or (ordered > 0 and int(consumed.get(order_id) or 0) >= ordered)
        shipped_at = shipped_at if fully_shipped else None
        delivered_at = delivered_at if status == "delivered" else None
        allocation = first_allocation.get(order_id)
        warned = _maybe_utc(warnings.get(order_id))
        completed_at = _maybe_utc(completed.get(order_id))
        out.append(
            {
                "order_id": order_id,
                "channel": channel,
                "status": status,
                "received_at": received_at,
                "received_hour": epoch_hour(received_at),
                "ship_by": ship_by,
                "shipped_at": shipped_at,
                "shipped_hours": hours(shipped_at - received_at) if shipped_at else None,
                "delivered_hours": hours(delivered_at - received_at) if delivered_at else None,
                "touches": mask_of(touches.get(order_id, ()), TOUCH_BITS),
                "errors": mask_of(errors.get(order_id, ()), ERROR_BITS),
                "units_ordered": ordered,
                "units_first_allocation": (
                    None
                    if allocation is None
                    else int(first_units.get(order_id) or 0)
                    if allocation == "allocated"
                    else 0
                ),
                "warning_lead_hours": hours(ship_by - warned) if warned and ship_by else None,
                "completed_at": completed_at,
                "completed_hour": epoch_hour(completed_at) if completed_at else None,
            }
        )
    return out


def received_counters(row: Mapping[str, Any]) -> Counter[str]:
    """What one facts row adds to the counts of the hour it was received in. Only what does not change
    with the time of asking: whether an unshipped order is late is decided by store/kpis.py."""
    ship_by, shipped_at, lead = row["ship_by"], row["shipped_at"], row["warning_lead_hours"]
    late_shipped = ship_by is not None and shipped_at is not None and shipped_at > ship_by
    added: Counter[str] = Counter(
        orders=1,
        touched=row["touches"] != 0,
        errored=row["errors"] != 0,
        shipped=row["shipped_hours"] is not None,
        delivered=row["delivered_hours"] is not None,
        on_time=ship_by is not None and shipped_at is not None and shipped_at <= ship_by,
        late_shipped=late_shipped,
        late_shipped_warned=late_shipped and lead is not None and lead >= EARLY_WARNING_HOURS,
        first_units=row["units_first_allocation"] or 0,
        allocated_units=row["units_ordered"] if row["units_first_allocation"] is not None else 0,
        warned=lead is not None,
    )
    added.update({f"touch_{name}": 1 for name in names_of(row["touches"], TOUCH_BITS)})
    added.update({f"error_{name}": 1 for name in names_of(row["errors"], ERROR_BITS)})
    return added


def counters(row: Mapping[str, Any]) -> dict[tuple[int, str], Counter[str]]:
    """What one facts row adds to the rollup (table kpi_rollup), by (hour, channel): to the hour it was
    received in, and `completed` to the hour it completed in."""
    out = {(row["received_hour"], row["channel"]): received_counters(row)}
    if row["completed_hour"] is not None:
        out.setdefault((row["completed_hour"], row["channel"]), Counter())["completed"] += 1
    return out


def _delta(old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rollup rows to add (counts may be negative) to go from the old facts rows to the new."""
    change: dict[tuple[int, str], Counter[str]] = defaultdict(Counter)
    for rows, sign in ((new, 1), (old, -1)):
        for row in rows:
            for key, added in counters(row).items():
                for name, value in added.items():
                    change[key][name] += sign * int(value)
    return [
        {"hour": hour, "channel": channel, **{name: counts[name] for name in ROLLUP_COUNTERS}}
        for (hour, channel), counts in sorted(change.items())
        if any(counts.values())
    ]


def _upsert(dialect: str) -> Any:
    """INSERT into kpi_rollup, adding to the counters of a row that is already there."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(KPI_ROLLUP)
    return statement.on_conflict_do_update(
        index_elements=["hour", "channel"],
        set_={name: KPI_ROLLUP.c[name] + statement.excluded[name] for name in ROLLUP_COUNTERS},
    )


async def refresh(session: AsyncSession, order_ids: Sequence[str]) -> None:
    """Rewrite the facts rows of these orders from the read model and move the rollup by the
    difference, in the caller's transaction."""
    ids = list(order_ids)
    results = {name: (await session.execute(statement)).all() for name, statement in statements(ids).items()}
    old = [row._asdict() for row in await session.execute(select(FACTS).where(FACTS.c.order_id.in_(ids)))]
    new = rows(results)
    if old:
        await session.execute(delete(FACTS).where(FACTS.c.order_id.in_(ids)))
    if new:
        await session.execute(FACTS.insert(), new)
    if delta := _delta(old, new):
        await session.execute(_upsert(session.get_bind().dialect.name), delta)


def backfill(connection: Connection) -> int:
    """Write the facts rows of every order and the rollup (the migration's backfill, on its synchronous
    connection); the tables start empty."""
    order_ids = list(connection.execute(select(OrderRow.order_id).order_by(OrderRow.order_id)).scalars())
    upsert = _upsert(connection.dialect.name)
    for first in range(0, len(order_ids), BACKFILL_BATCH):
        batch = order_ids[first : first + BACKFILL_BATCH]
        new = rows({name: connection.execute(statement).all() for name, statement in statements(batch).items()})
        if new:
            connection.execute(FACTS.insert(), new)
        if delta := _delta([], new):
            connection.execute(upsert, delta)
    return len(order_ids)


def epoch_hour(at: datetime) -> int:
    """Whole hours since 1970-01-01 UTC: the hour bucket; // 24 gives the day bucket."""
    return int((at - EPOCH).total_seconds() // 3600)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _maybe_utc(value: datetime | None) -> datetime | None:
    return _utc(value) if value is not None else None
