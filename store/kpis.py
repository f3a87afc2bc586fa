"""The facts the KPIs are computed from (domain/kpis.py), read out of the read model.

The orders of a window are those received in it ([start, end)); their shipments, timeline, exceptions,
reservations and alerts are read whenever they happened. Exceptions count by when they were raised,
completions and people's actions by when they happened. A warehouse filter keeps the orders with stock
reserved in that warehouse; a carrier filter those with a shipment by that carrier.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from domain.kpi_marks import FIRST_ALLOCATION_KEY, SHIPPED_STATUSES, SLA_AT_RISK
from domain.kpis import (
    ERROR_KINDS,
    PERSON_PREFIX,
    TOUCH_REASONS,
    Action,
    ExceptionFacts,
    Facts,
    OrderFacts,
    error_kind_of_cancel,
    first_human_action,
    touch_reason,
)
from store.tables import (
    AlertRow,
    OrderEvent,
    OrderExceptionRow,
    OrderLineRow,
    OrderRow,
    Reservation,
    Shipment,
)

COMPLETED = "completed"


@dataclass(frozen=True)
class KpiFilter:
    start: datetime
    end: datetime
    channel: str | None = None
    warehouse: str | None = None
    carrier: str | None = None


def _order_conditions(f: KpiFilter) -> list[Any]:
    conditions: list[Any] = []
    if f.channel:
        conditions.append(OrderRow.channel == f.channel)
    if f.warehouse:
        conditions.append(
            OrderRow.order_id.in_(select(Reservation.order_id).where(Reservation.warehouse == f.warehouse))
        )
    if f.carrier:
        conditions.append(OrderRow.order_id.in_(select(Shipment.order_id).where(Shipment.carrier == f.carrier)))
    return conditions


def _cohort(f: KpiFilter) -> Select[str]:
    return select(OrderRow.order_id).where(
        OrderRow.created_at >= f.start, OrderRow.created_at < f.end, *_order_conditions(f)
    )


async def facts(session: AsyncSession, f: KpiFilter) -> Facts:
    cohort = _cohort(f).scalar_subquery()
    orders = (
        await session.execute(
            select(OrderRow.order_id, OrderRow.channel, OrderRow.created_at, OrderRow.ship_by, OrderRow.status).where(
                OrderRow.order_id.in_(cohort)
            )
        )
    ).all()
    shipped: dict[str, tuple[datetime | None, datetime | None]] = {}
    for row in await session.execute(
        select(
            Shipment.order_id,
            func.max(Shipment.shipped_at),
            func.max(Shipment.delivered_at),
            func.count(),
            func.count(Shipment.delivered_at),
        )
        .where(Shipment.order_id.in_(cohort))
        .group_by(Shipment.order_id)
    ):
        order_id, last_shipped, last_delivered, shipments, delivered = row
        complete = last_delivered is not None and delivered == shipments
        shipped[order_id] = (_maybe_utc(last_shipped), _maybe_utc(last_delivered) if complete else None)

    touches: dict[str, set[str]] = defaultdict(set)
    errors: dict[str, set[str]] = defaultdict(set)
    first_allocation: dict[str, str] = {}
    events = sorted({*TOUCH_REASONS, "allocated", "backordered"})
    for order_id, key, event, actor in await session.execute(
        select(OrderEvent.order_id, OrderEvent.key, OrderEvent.event, OrderEvent.actor).where(
            OrderEvent.order_id.in_(cohort), OrderEvent.event.in_(events)
        )
    ):
        if key == FIRST_ALLOCATION_KEY:
            first_allocation[order_id] = event
        if (reason := touch_reason(event, actor)) is not None:
            touches[order_id].add(reason)
        if event == "cancelled" and (kind := error_kind_of_cancel(actor)) is not None:
            errors[order_id].add(kind)
    for order_id, kind in await session.execute(
        select(OrderExceptionRow.order_id, OrderExceptionRow.kind)
        .where(OrderExceptionRow.order_id.in_(cohort), OrderExceptionRow.kind.in_(sorted(ERROR_KINDS)))
        .distinct()
    ):
        errors[order_id].add(kind)

    units = await _by_order(
        session,
        select(OrderLineRow.order_id, func.sum(OrderLineRow.quantity))
        .where(OrderLineRow.order_id.in_(cohort))
        .group_by(OrderLineRow.order_id),
    )
    # One reserve call writes all of an attempt's reservations with one timestamp: the earliest is the first.
    earliest = (
        select(Reservation.order_id, func.min(Reservation.created_at).label("at"))
        .where(Reservation.order_id.in_(cohort))
        .group_by(Reservation.order_id)
        .subquery()
    )
    first_units = await _by_order(
        session,
        select(Reservation.order_id, func.sum(Reservation.quantity))
        .join(earliest, (earliest.c.order_id == Reservation.order_id) & (earliest.c.at == Reservation.created_at))
        .group_by(Reservation.order_id),
    )
    # Reservations are consumed as their parcel ships: an order needing attention after it shipped
    # everything (a failed delivery) is still fully shipped.
    consumed = await _by_order(
        session,
        select(Reservation.order_id, func.sum(Reservation.quantity))
        .where(Reservation.order_id.in_(cohort), Reservation.state == "consumed")
        .group_by(Reservation.order_id),
    )
    warnings = await _by_order(
        session,
        select(AlertRow.order_id, func.min(AlertRow.raised_at))
        .where(AlertRow.order_id.in_(cohort), AlertRow.kind == SLA_AT_RISK)
        .group_by(AlertRow.order_id),
    )

    order_facts = []
    for order_id, channel, received_at, ship_by, status in orders:
        shipped_at, delivered_at = shipped.get(order_id, (None, None))
        allocation = first_allocation.get(order_id)
        ordered = int(units.get(order_id) or 0)
        fully_shipped = status in SHIPPED_STATUSES or (ordered > 0 and int(consumed.get(order_id) or 0) >= ordered)
        order_facts.append(
            OrderFacts(
                order_id=order_id,
                channel=channel,
                received_at=_utc(received_at),
                status=status,
                ship_by=_utc(ship_by) if ship_by else None,
                shipped_at=shipped_at if fully_shipped else None,
                delivered_at=delivered_at if status == "delivered" else None,
                touches=frozenset(touches.get(order_id, ())),
                errors=frozenset(errors.get(order_id, ())),
                units_ordered=ordered,
                units_first_allocation=(
                    None
                    if allocation is None
                    else int(first_units.get(order_id) or 0)
                    if allocation == "allocated"
                    else 0
                ),
                first_warning_at=_utc(warnings[order_id]) if order_id in warnings else None,
            )
        )
    return Facts(order_facts, *await window_events(session, f))


async def window_events(
    session: AsyncSession, f: KpiFilter
) -> tuple[list[ExceptionFacts], list[datetime], list[Action]]:
    """The exceptions raised, the orders completed and the people's actions in the window."""
    return await _exceptions(session, f), await _completions(session, f), await _actions(session, f)


async def _by_order(session: AsyncSession, statement: Select[str, Any]) -> dict[str, Any]:
    # Not dict(result): a Result has keys() (its column names), so dict() would index it by them.
    return {row[0]: row[1] for row in await session.execute(statement)}


async def _exceptions(session: AsyncSession, f: KpiFilter) -> list[ExceptionFacts]:
    rows = await session.execute(
        select(
            OrderExceptionRow.kind,
            OrderExceptionRow.raised_at,
            OrderExceptionRow.resolved_at,
            OrderExceptionRow.resolved_by,
            OrderExceptionRow.acknowledged_at,
        )
        .join(OrderRow, OrderRow.order_id == OrderExceptionRow.order_id)
        .where(OrderExceptionRow.raised_at >= f.start, OrderExceptionRow.raised_at < f.end, *_order_conditions(f))
    )
    return [
        ExceptionFacts(
            kind=kind,
            raised_at=_utc(raised_at),
            first_human_action_at=first_human_action(_maybe_utc(resolved_at), resolved_by, _maybe_utc(acknowledged_at)),
            resolved_at=_maybe_utc(resolved_at),
        )
        for kind, raised_at, resolved_at, resolved_by, acknowledged_at in rows
    ]


def _events_in_window(f: KpiFilter, *conditions: Any) -> Select[str, datetime, str]:
    return (
        select(OrderEvent.order_id, OrderEvent.occurred_at, OrderEvent.actor)
        .join(OrderRow, OrderRow.order_id == OrderEvent.order_id)
        .where(OrderEvent.occurred_at >= f.start, OrderEvent.occurred_at < f.end, *conditions, *_order_conditions(f))
    )


async def _completions(session: AsyncSession, f: KpiFilter) -> list[datetime]:
    """When orders first reached `completed` (the timeline entry that brought the status), in the window:
    a `completed` entry in the window with none before it for the same order."""
    earlier = aliased(OrderEvent)
    rows = await session.execute(
        _events_in_window(f, OrderEvent.status == COMPLETED).where(
            ~exists().where(
                earlier.order_id == OrderEvent.order_id,
                earlier.status == COMPLETED,
                earlier.occurred_at < OrderEvent.occurred_at,
            )
        )
    )
    first: dict[str, datetime] = {}
    for order_id, at, _ in rows:
        first[order_id] = min(_utc(at), first.get(order_id, _utc(at)))
    return list(first.values())


async def _actions(session: AsyncSession, f: KpiFilter) -> list[Action]:
    rows = await session.execute(_events_in_window(f, OrderEvent.actor.startswith(PERSON_PREFIX)))
    return [Action(_utc(at), actor) for _, at, actor in rows]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _maybe_utc(value: datetime | None) -> datetime | None:
    return _utc(value) if value is not None else None
