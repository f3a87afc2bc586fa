"""Stock reservation in our own inventory."""

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from domain.orders import ExceptionKind, OrderException, OrderStatus, Step, TimelineEntry
from domain.steps import ReserveStock, StockReserved
from store import inventory, orders
from store.sql import utcnow

log = structlog.get_logger(__name__)


def describe_shortages(result: StockReserved) -> str:
    return "; ".join(
        f"{s.sku}: {s.requested} requested, {s.available} available in {result.warehouse}" for s in result.shortages
    )


class InventoryActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], warehouse: str) -> None:
        self._sessions = sessions
        self._warehouse = warehouse  # the one warehouse we allocate from until multi-site planning

    @activity.defn(name="reserve_stock")
    async def reserve_stock(self, req: ReserveStock) -> StockReserved:
        """Reserve all lines in one warehouse, or none and record the shortage on the order."""
        warehouse = self._warehouse
        with structlog.contextvars.bound_contextvars(order_id=req.order_id):
            async with self._sessions.begin() as s:
                attempt = await s.begin_nested()
                shortages = await inventory.try_reserve(s, req.order_id, warehouse, req.lines)
                if shortages is None:
                    await attempt.rollback()
                    held = await inventory.active_reservations(s, req.order_id, warehouse)
                    return StockReserved(warehouse=warehouse, reserved=held)
                now = utcnow()
                if not shortages:
                    await attempt.commit()
                    await orders.project(
                        s,
                        req.order_id,
                        OrderStatus.ALLOCATED,
                        (
                            "allocated",
                            TimelineEntry(now, OrderStatus.ALLOCATED, "allocated", f"stock reserved in {warehouse}"),
                        ),
                    )
                    log.info("stock reserved", warehouse=warehouse)
                    return StockReserved(warehouse=warehouse, reserved=list(req.lines))

                await attempt.rollback()
                result = StockReserved(warehouse=warehouse, shortages=shortages)
                message = describe_shortages(result)
                await orders.project(
                    s,
                    req.order_id,
                    OrderStatus.NEEDS_ATTENTION,
                    (
                        req.shortage_exception_id,
                        TimelineEntry(now, OrderStatus.NEEDS_ATTENTION, "exception_opened", message),
                    ),
                    exception=OrderException(
                        req.shortage_exception_id, ExceptionKind.STOCK_SHORTAGE, Step.ALLOCATE, message, now
                    ),
                )
            log.warning("stock shortage", shortages=message)
            return result
