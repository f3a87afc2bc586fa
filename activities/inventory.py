"""Stock reservation in our own inventory."""

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from domain.orders import OrderStatus, TimelineEntry
from domain.steps import KeyedEntry, ProjectOrder, ReserveStock, StockReserved
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
        """Reserve the order's lines in one warehouse: all of them, or (partial) what is there.
        A shortage leaves nothing reserved and goes back to the workflow."""
        warehouse = self._warehouse
        with structlog.contextvars.bound_contextvars(order_id=req.order_id):
            async with self._sessions.begin() as s:
                attempt = await s.begin_nested()
                outcome = await inventory.try_reserve(s, req.order_id, warehouse, req.lines, partial=req.partial)
                if outcome is None:
                    await attempt.rollback()
                    held = await inventory.active_reservations(s, req.order_id, warehouse)
                    return StockReserved(warehouse=warehouse, reserved=held)
                reserved, shortages = outcome
                if (shortages and not req.partial) or not reserved:
                    await attempt.rollback()
                    result = StockReserved(warehouse=warehouse, shortages=shortages)
                    log.warning("stock shortage", shortages=describe_shortages(result))
                    return result
                await attempt.commit()
                detail = f"stock reserved in {warehouse}"
                entry = TimelineEntry(utcnow(), OrderStatus.ALLOCATED, "allocated", detail)
                await orders.project(
                    s, ProjectOrder(req.order_id, OrderStatus.ALLOCATED, [KeyedEntry("allocated", entry)])
                )
            log.info("stock reserved", warehouse=warehouse, short=len(shortages))
            return StockReserved(warehouse=warehouse, reserved=reserved, shortages=shortages)
