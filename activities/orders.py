"""Recording orders and projecting their status into the read model."""

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from domain.money import format_minor
from domain.orders import (
    ExceptionKind,
    OrderException,
    OrderStatus,
    Step,
    TimelineEntry,
    catalog_problems,
    validate,
)
from domain.steps import ConfirmOrder, OrderConfirmed, RecordStatus
from store import catalog, orders
from store.sql import utcnow

log = structlog.get_logger(__name__)


class OrderActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @activity.defn(name="confirm_order")
    async def confirm_order(self, req: ConfirmOrder) -> OrderConfirmed:
        """Check the order against the catalog and record it, confirmed or needing attention."""
        order = req.order
        with structlog.contextvars.bound_contextvars(order_id=order.order_id):
            async with self._sessions.begin() as s:
                existing = await orders.get(s, order.order_id)
                if existing is not None:
                    # A retry after the first run committed: keep the first outcome.
                    stored = {e.exception_id: e for e in await orders.exceptions_of(s, order.order_id)}
                    raised = stored.get(req.exception_id)
                    return OrderConfirmed(problems=raised.message.split("; ") if raised else [])

                known = await catalog.products_by_sku(s, [line.sku for line in order.lines])
                problems = [
                    str(p)
                    for p in validate(order) + catalog_problems(order, {sku: p.active for sku, p in known.items()})
                ]

                now = utcnow()
                received = TimelineEntry(req.received_at, OrderStatus.RECEIVED, "received", order.summary())
                if problems:
                    message = "; ".join(problems)
                    await orders.record_new(s, order, OrderStatus.NEEDS_ATTENTION, req.received_at)
                    await orders.project(
                        s,
                        order.order_id,
                        OrderStatus.NEEDS_ATTENTION,
                        ("received", received),
                        (
                            req.exception_id,
                            TimelineEntry(now, OrderStatus.NEEDS_ATTENTION, "exception_opened", message),
                        ),
                        exception=OrderException(
                            req.exception_id, ExceptionKind.ORDER_INVALID, Step.CONFIRM, message, now
                        ),
                    )
                    log.warning("order invalid", problems=problems)
                    return OrderConfirmed(problems=problems)

                await orders.record_new(s, order, OrderStatus.CONFIRMED, req.received_at)
                total = f"total {format_minor(order.total, order.currency)} {order.currency}"
                await orders.project(
                    s,
                    order.order_id,
                    OrderStatus.CONFIRMED,
                    ("received", received),
                    ("confirmed", TimelineEntry(now, OrderStatus.CONFIRMED, "confirmed", total)),
                )
            log.info("order confirmed", total=order.total, currency=order.currency)
            return OrderConfirmed()

    @activity.defn(name="record_status")
    async def record_status(self, req: RecordStatus) -> None:
        with structlog.contextvars.bound_contextvars(order_id=req.order_id):
            async with self._sessions.begin() as s:
                await orders.project(s, req.order_id, req.status, (req.event_key, req.entry), exception=req.exception)
            log.info("status recorded", status=req.status.value, event=req.entry.event)
