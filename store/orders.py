"""The order read model: rows, lines, the timeline and exceptions."""

import base64
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.orders import Order, OrderException, OrderStatus, TimelineEntry
from store.sql import insert_ignore, utcnow
from store.tables import OrderEvent, OrderExceptionRow, OrderLineRow, OrderRow


async def record_new(session: AsyncSession, order: Order, status: OrderStatus, received_at: datetime) -> bool:
    """Insert the order and its lines once; False when it was already recorded."""
    now = utcnow()
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
                "ship_by": order.ship_by,
                "status": status.value,
                "fingerprint": order.fingerprint(),
                "created_at": received_at,
                "updated_at": now,
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
                }
                for i, line in enumerate(order.lines, start=1)
            ],
        )
    return bool(new)


async def project(
    session: AsyncSession,
    order_id: str,
    status: OrderStatus,
    *events: tuple[str, TimelineEntry],
    exception: OrderException | None = None,
) -> None:
    """Move the read model to `status` and append timeline events, each keyed so a retry adds nothing."""
    await session.execute(
        update(OrderRow).where(OrderRow.order_id == order_id).values(status=status.value, updated_at=utcnow())
    )
    await insert_ignore(
        session,
        OrderEvent.__table__,  # type: ignore[arg-type]
        [
            {
                "order_id": order_id,
                "key": key,
                "status": entry.status.value,
                "event": entry.event,
                "detail": entry.detail,
                "actor": entry.actor,
                "occurred_at": entry.at,
            }
            for key, entry in events
        ],
    )
    if exception is not None:
        await insert_ignore(
            session,
            OrderExceptionRow.__table__,  # type: ignore[arg-type]
            [
                {
                    "exception_id": exception.exception_id,
                    "order_id": order_id,
                    "kind": exception.kind.value,
                    "step": exception.step.value,
                    "message": exception.message,
                    "raised_at": exception.raised_at,
                    "resolved_at": exception.resolved_at,
                    "resolution": exception.resolution,
                }
            ],
        )


async def get(session: AsyncSession, order_id: str) -> OrderRow | None:
    return await session.get(OrderRow, order_id)


async def find_by_external_id(session: AsyncSession, channel: str, external_id: str) -> OrderRow | None:
    result = await session.execute(
        select(OrderRow).where(OrderRow.channel == channel, OrderRow.external_id == external_id)
    )
    return result.scalar_one_or_none()


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


def encode_cursor(row: OrderRow) -> str:
    raw = json.dumps([row.created_at.isoformat(), row.order_id]).encode()
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
        created_at, order_id = after
        conditions.append(
            or_(
                OrderRow.created_at < created_at,
                and_(OrderRow.created_at == created_at, OrderRow.order_id < order_id),
            )
        )
    result = await session.execute(
        select(OrderRow)
        .where(*conditions)
        .order_by(OrderRow.created_at.desc(), OrderRow.order_id.desc())
        .limit(limit + 1)
    )
    rows = list(result.scalars())
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor
