"""Pick lists: the built-in warehouse (in auto mode it confirms them by itself after a delay), or an
external WMS that receives each pick list and confirms it through POST /v1/pick-lists/{id}/confirm."""

from typing import Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from domain.orders import Address, OrderStatus, TimelineEntry
from domain.steps import CreatePickList, KeyedEntry, PickListCreated, ProjectOrder
from store import fulfilment, orders
from store.sql import utcnow

log = structlog.get_logger(__name__)


def pick_list_id_for(allocation_id: str, warehouse: str) -> str:
    return f"PL-{allocation_id}-{warehouse}"


class ExternalWarehouse(Protocol):
    async def send_pick_list(self, pick_list_id: str, req: CreatePickList, ship_to: Address | None) -> str:
        """Hand the pick list over; answers the WMS's reference. The same pick_list_id again is a no-op."""
        ...

    async def cancel_pick_list(self, pick_list_id: str, order_id: str, reason: str) -> None:
        """Stop picking it: the order was cancelled. The same pick_list_id again is a no-op."""
        ...


class WarehouseActivities:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        auto_confirm_after: float | None,
        wms: ExternalWarehouse | None = None,
        manual_warehouses: frozenset[str] = frozenset(),
    ) -> None:
        self._sessions = sessions
        self._auto_confirm_after = auto_confirm_after
        self._wms = wms
        self._manual = manual_warehouses

    @activity.defn(name="create_pick_list")
    async def create_pick_list(self, req: CreatePickList) -> PickListCreated:
        allocation = req.allocation
        pick_list_id = pick_list_id_for(allocation.allocation_id, allocation.warehouse)
        with structlog.contextvars.bound_contextvars(order_id=req.order_id, pick_list_id=pick_list_id):
            where = f"{pick_list_id} in {allocation.warehouse}"
            if self._wms is not None:
                async with self._sessions() as s:
                    order = await orders.get(s, req.order_id)
                ship_to = Address(**order.ship_to) if order is not None else None
                reference = await self._wms.send_pick_list(pick_list_id, req, ship_to)
                where += f" (WMS {reference})"
            async with self._sessions.begin() as s:
                await fulfilment.open_pick_list(s, pick_list_id, req.order_id, allocation.warehouse, allocation.lines)
                entry = TimelineEntry(utcnow(), OrderStatus.PICKING, "pick_list_created", where)
                await orders.project(
                    s,
                    ProjectOrder(req.order_id, req.status, [KeyedEntry(f"picking:{pick_list_id}", entry)], seq=req.seq),
                )
            auto_after = None if allocation.warehouse in self._manual else self._auto_confirm_after
            log.info("pick list open", auto_confirm_after=auto_after)
            return PickListCreated(pick_list_id=pick_list_id, auto_confirm_after_seconds=auto_after)
