"""The order read model: rows, lines, the timeline and exceptions."""

import base64
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Select, Table, bindparam, delete, func, insert, select, union, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.events import events_of
from domain.exceptions import OrderException
from domain.kpi_marks import Marks, marks_of
from domain.kpi_tally import epoch_hour
from domain.kpis import is_person
from domain.orders import Order, OrderLine, OrderStatus
from domain.steps import ProjectOrder
from store import events, kpi_rollup
from store.sql import insert_ignore, past_cursor, utcnow
from store.tables import AlertRow, OrderEvent, OrderExceptionRow, OrderLineRow, OrderRow

log = structlog.get_logger(__name__)


async def record_new(
    session: AsyncSession, order: Order, status: OrderStatus, received_at: datetime, ship_by: datetime, seq: int = 0
) -> bool:
    """Insert the order and its lines once; False when it was already recorded."""
    new = await insert_ignore(
        session,
        OrderRow.__table__,  # type: ignore[arg-type]
        [
            {
                "order_id": order.order_id,
                "channel": order.channel,
                "external_id": order.external_id,
                "customer_id": order.customer.id,
                "customer_name": order.customer.name,
                "customer_email": order.customer.email,
                "ship_to": asdict(order.ship_to),
                "currency": order.currency,
                "total": order.total,
                "priority": order.priority.value,
                "ship_by": ship_by,
                "status": status.value,
                "status_seq": seq,
                "at_risk": False,
                "fingerprint": order.fingerprint(),
                "created_at": received_at,
                "updated_at": utcnow(),
                "kpi_units_ordered": sum(line.quantity for line in order.lines),
                "kpi_hour": epoch_hour(received_at),
            }
        ],
    )
    if new:
        await insert_ignore(
            session,
            OrderLineRow.__table__,  # type: ignore[arg-type]
            [
                {
                    "order_id": order.order_id,
                    "line_no": i,
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                    "gift": line.gift,
                }
                for i, line in enumerate(order.lines, start=1)
            ],
        )
    return bool(new)


# Core statements against the tables, built once: the ORM's bulk-update path costs more on every call.
ORDERS: Table = OrderRow.__table__  # type: ignore[assignment]
EXCEPTIONS: Table = OrderExceptionRow.__table__  # type: ignore[assignment]
# The SET clause comes from the execution's parameters: status, status_seq, updated_at and what else changed.
_SET_STATUS = update(ORDERS).where(
    ORDERS.c.order_id == bindparam("match_order_id"), ORDERS.c.status_seq <= bindparam("match_seq")
)
_UPDATE_EXCEPTION = update(EXCEPTIONS).where(EXCEPTIONS.c.exception_id == bindparam("match_exception_id"))


async def project(
    session: AsyncSession, change: ProjectOrder, status_recorded: bool = False, units_reserved: int | None = None
) -> None:
    """Bring the read model in line with the workflow. Every part is keyed or absolute, so a retry
    of the same change writes nothing new. `status_recorded`: the caller has just inserted the order
    with this status and seq (record_new), so only the rest of the change is left to write.
    `units_reserved`: what an allocation attempt in the change reserved (for the KPIs' fill rate)."""
    marks = marks_of(change, units_reserved)
    moves = kpi_rollup.Moves()
    now = utcnow()
    late = False
    if status_recorded:
        if marks:
            await _mark(session, change, marks, moves, now)
    else:
        written = await _set_status(session, change, marks, moves, now)
        if written is None:
            return
        # A late write (a step run again once the workflow had moved on) adds what is keyed and missing,
        # and overwrites nothing a newer write set: the lines, an exception's state.
        late = not written
    if change.lines is not None and not late:
        await _replace_lines(session, change.order_id, change.lines)
    await insert_ignore(
        session,
        OrderEvent.__table__,  # type: ignore[arg-type]
        [
            {
                "order_id": change.order_id,
                "key": keyed.key,
                "status": keyed.entry.status.value,
                "event": keyed.entry.event,
                "detail": keyed.entry.detail,
                "actor": keyed.entry.actor,
                "occurred_at": keyed.entry.at,
            }
            for keyed in change.entries
        ],
    )
    for exception in change.exceptions:
        await _upsert_exception(session, change.order_id, exception, moves, late)
    await insert_ignore(
        session,
        AlertRow.__table__,  # type: ignore[arg-type]
        [
            {
                "alert_id": alert.alert_id,
                "kind": alert.kind,
                "order_id": alert.order_id,
                "exception_id": alert.exception_id,
                "level": alert.level,
                "message": alert.message,
                "raised_at": alert.raised_at,
            }
            for alert in change.alerts
        ],
    )
    for alert in change.alerts:
        log.warning(
            "alert", alert_id=alert.alert_id, kind=alert.kind, escalation_level=alert.level, message=alert.message
        )
    # The outbox: business events commit with the change that caused them, or not at all.
    await events.record(session, events_of(change, utcnow()))
    await kpi_rollup.add(session, moves.rows())


async def _set_status(
    session: AsyncSession, change: ProjectOrder, marks: Marks, moves: kpi_rollup.Moves, now: datetime
) -> bool | None:
    """True when written; False when a newer write is recorded already (this one is late); None when
    there is no order to project onto."""
    values: dict[str, Any] = {"status": change.status.value, "status_seq": change.seq, "updated_at": now}
    if change.at_risk is not None:
        values["at_risk"] = change.at_risk
    if change.ship_to is not None:
        values["ship_to"] = asdict(change.ship_to)
    if change.lines is not None:
        values["total"] = sum(line.total for line in change.lines)
        values["kpi_units_ordered"] = sum(line.quantity for line in change.lines)
    if change.priority is not None:
        values["priority"] = change.priority.value
    if change.ship_by is not None:
        values["ship_by"] = change.ship_by
    match = {"match_order_id": change.order_id, "match_seq": change.seq}
    if marks:
        # The marks ride on the status write: no statement of their own (store/kpi_rollup.py).
        params = {**match, **values, **kpi_rollup.marks_params(marks)}
        row = (await session.execute(kpi_rollup.SET_STATUS_AND_MARKS, params)).first()
        if row is not None:
            moves.order_written(change.order_id, row, marks, now)
            return True
    else:
        result = await session.execute(_SET_STATUS, {**match, **values})
        if getattr(result, "rowcount", 1):
            return True
    if await session.get(OrderRow, change.order_id) is None:
        # The order was never recorded (its confirm step failed for good): nothing to attach this to.
        log.warning("projection for an unrecorded order skipped", order_id=change.order_id)
        return None
    log.info("late write: a newer status is already recorded", order_id=change.order_id, seq=change.seq)
    if marks:
        await _mark(session, change, marks, moves, now)
    return False


async def _mark(
    session: AsyncSession, change: ProjectOrder, marks: Marks, moves: kpi_rollup.Moves, now: datetime
) -> None:
    """The marks without the status: a late write still tells the KPIs what happened."""
    params = {"match_order_id": change.order_id, **kpi_rollup.marks_params(marks)}
    row = (await session.execute(kpi_rollup.SET_MARKS, params)).first()
    if row is not None:
        moves.order_written(change.order_id, row, marks, now)


async def _replace_lines(session: AsyncSession, order_id: str, lines: list[OrderLine]) -> None:
    await session.execute(delete(OrderLineRow).where(OrderLineRow.order_id == order_id))
    rows = [
        {"order_id": order_id, "line_no": i, "sku": line.sku, "quantity": line.quantity, "unit_price": line.unit_price}
        for i, line in enumerate(lines, start=1)
    ]
    await session.execute(insert(OrderLineRow), rows)


async def _upsert_exception(
    session: AsyncSession, order_id: str, exception: OrderException, moves: kpi_rollup.Moves, late: bool = False
) -> None:
    state = {
        "escalation_level": exception.escalation_level,
        "allowed_actions": [a.value for a in exception.allowed_actions],
        "resolved_at": exception.resolved_at,
        "resolution": exception.resolution.value if exception.resolution else None,
        "resolved_by": exception.resolved_by,
        "note": exception.note,
    }
    inserted = await insert_ignore(
        session,
        OrderExceptionRow.__table__,  # type: ignore[arg-type]
        [
            {
                "exception_id": exception.exception_id,
                "order_id": order_id,
                "kind": exception.kind.value,
                "step": exception.step.value,
                "message": exception.message,
                "blocking": exception.blocking,
                "raised_at": exception.raised_at,
                **state,
            }
        ],
    )
    match = {"match_exception_id": exception.exception_id}
    if exception.resolved_at is None:
        # An open exception in a late write is as a newer write left it (escalated further, resolved).
        if not inserted and not late:
            await session.execute(_UPDATE_EXCEPTION, {**match, **state})
    elif inserted:
        moves.exception_resolved(kpi_rollup.channel_of(order_id), exception, None)
    else:
        # The resolving write says so (kpi_new) and brings the first acknowledgement: no look back.
        row = (await session.execute(kpi_rollup.RESOLVE_EXCEPTION, {**match, **state})).first()
        if row is not None and row.kpi_new:
            moves.exception_resolved(kpi_rollup.channel_of(order_id), exception, row.acknowledged_at)


async def get(session: AsyncSession, order_id: str) -> OrderRow | None:
    return await session.get(OrderRow, order_id)


_SUBMITTED = select(OrderRow.fingerprint, OrderRow.status).where(OrderRow.order_id == bindparam("order_id"))


async def submitted(session: AsyncSession, order_id: str) -> tuple[str, str] | None:
    """(fingerprint, status) of an order already recorded: the submit path's one look, without the ORM."""
    row = (await session.execute(_SUBMITTED, {"order_id": order_id})).first()
    return (row.fingerprint, row.status) if row else None


async def lines_of(session: AsyncSession, order_id: str) -> list[OrderLineRow]:
    result = await session.execute(
        select(OrderLineRow).where(OrderLineRow.order_id == order_id).order_by(OrderLineRow.line_no)
    )
    return list(result.scalars())


async def timeline_of(session: AsyncSession, order_id: str) -> list[OrderEvent]:
    result = await session.execute(select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id))
    return list(result.scalars())


async def exceptions_of(session: AsyncSession, order_id: str) -> list[OrderExceptionRow]:
    result = await session.execute(
        select(OrderExceptionRow).where(OrderExceptionRow.order_id == order_id).order_by(OrderExceptionRow.raised_at)
    )
    return list(result.scalars())


@dataclass(frozen=True)
class OrderFilter:
    status: str | None = None
    channel: str | None = None
    external_id: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    customer: str | None = None  # the customer's ID, or e-mail or name in any case


def encode_cursor(at: datetime, key: str) -> str:
    raw = json.dumps([at.isoformat(), key]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Raises ValueError for a cursor we did not issue."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, order_id = json.loads(raw)
        return datetime.fromisoformat(created_at), str(order_id)
    except Exception as err:
        raise ValueError("not a cursor issued by this API") from err


async def page(
    session: AsyncSession, filters: OrderFilter, limit: int, after: tuple[datetime, str] | None
) -> tuple[list[OrderRow], str | None]:
    """Newest first, keyset-paginated on (created_at, order_id)."""
    conditions: list[Any] = []
    if filters.status:
        conditions.append(OrderRow.status == filters.status)
    if filters.channel:
        conditions.append(OrderRow.channel == filters.channel)
    if filters.external_id:
        conditions.append(OrderRow.external_id == filters.external_id)
    if filters.created_after:
        conditions.append(OrderRow.created_at >= filters.created_after)
    if filters.created_before:
        conditions.append(OrderRow.created_at < filters.created_before)
    if after:
        conditions.append(past_cursor(OrderRow.created_at, OrderRow.order_id, after))
    newest_first = (OrderRow.created_at.desc(), OrderRow.order_id.desc())
    query = select(OrderRow).where(*conditions)
    if filters.customer:
        query = query.where(OrderRow.order_id.in_(_customers_newest(filters.customer, conditions, limit + 1)))
    result = await session.execute(query.order_by(*newest_first).limit(limit + 1))
    rows = list(result.scalars())
    next_cursor = encode_cursor(rows[limit - 1].created_at, rows[limit - 1].order_id) if len(rows) > limit else None
    return rows[:limit], next_cursor


def _customers_newest(customer: str, conditions: list[Any], limit: int) -> Select[tuple[str]]:
    """The newest orders of the customer with this ID, or this e-mail or name in any case: each of the
    three read newest first along its own index (ix_orders_customer and the two lower() indexes) and
    stopped at `limit`, however many orders the customer has; an OR of the three would sort them all."""
    folded = func.lower(customer)
    newest: list[Any] = []
    for matches in (
        OrderRow.customer_id == customer,
        func.lower(OrderRow.customer_email) == folded,
        func.lower(OrderRow.customer_name) == folded,
    ):
        found = (
            select(OrderRow.order_id)
            .where(matches, *conditions)
            .order_by(OrderRow.created_at.desc(), OrderRow.order_id.desc())
            .limit(limit)
            .subquery()
        )
        newest.append(select(found.c.order_id))
    return select(union(*newest).subquery().c.order_id)


async def exception_page(
    session: AsyncSession,
    open_only: bool,
    kind: str | None,
    order_id: str | None,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[tuple[OrderExceptionRow, OrderRow]]:
    """Exceptions across orders, oldest first, each with its order."""
    conditions: list[Any] = []
    if open_only:
        conditions.append(OrderExceptionRow.resolved_at.is_(None))
    if kind:
        conditions.append(OrderExceptionRow.kind == kind)
    if order_id:
        conditions.append(OrderExceptionRow.order_id == order_id)
    if after:
        conditions.append(
            past_cursor(OrderExceptionRow.raised_at, OrderExceptionRow.exception_id, after, newest_first=False)
        )
    result = await session.execute(
        select(OrderExceptionRow, OrderRow)
        .join(OrderRow, OrderRow.order_id == OrderExceptionRow.order_id)
        .where(*conditions)
        .order_by(OrderExceptionRow.raised_at, OrderExceptionRow.exception_id)
        .limit(limit)
    )
    return [(e, o) for e, o in result.all()]


async def alert_page(
    session: AsyncSession,
    kind: str | None,
    order_id: str | None,
    acknowledged: bool | None,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[AlertRow]:
    """Alerts, newest first."""
    conditions: list[Any] = []
    if kind:
        conditions.append(AlertRow.kind == kind)
    if order_id:
        conditions.append(AlertRow.order_id == order_id)
    if acknowledged is not None:
        conditions.append(AlertRow.acknowledged_at.is_not(None) if acknowledged else AlertRow.acknowledged_at.is_(None))
    if after:
        conditions.append(past_cursor(AlertRow.raised_at, AlertRow.alert_id, after))
    result = await session.execute(
        select(AlertRow).where(*conditions).order_by(AlertRow.raised_at.desc(), AlertRow.alert_id.desc()).limit(limit)
    )
    return list(result.scalars())


async def acknowledge_alert(session: AsyncSession, alert_id: str, actor: str) -> AlertRow | None:
    alert = await session.get(AlertRow, alert_id, with_for_update=True)
    if alert is not None and alert.acknowledged_at is None:
        alert.acknowledged_at = utcnow()
        alert.acknowledged_by = actor
        if alert.exception_id is not None and is_person(actor):
            # The exception's first human action, for the KPIs (store/kpi_rollup.py).
            await session.execute(
                update(EXCEPTIONS)
                .where(EXCEPTIONS.c.exception_id == alert.exception_id, EXCEPTIONS.c.acknowledged_at.is_(None))
                .values(acknowledged_at=alert.acknowledged_at)
            )
    return alert
