"""The built-in warehouse: pick lists. In auto mode it confirms them by itself after a delay."""

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from domain.orders import OrderStatus, TimelineEntry
from domain.steps import CreatePickList, KeyedEntry, PickListCreated, ProjectOrder
from store import fulfilment, orders
from store.sql import utcnow

log = structlog.get_logger(__name__)


def pick_list_id_for(allocation_id: str, warehouse: str) -> str:
    return f"PL-{allocation_id}-{warehouse}"


class WarehouseActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], auto_confirm_after: float | None) -> None:
        self._sessions = sessions
        self._auto_confirm_after = auto_confirm_after

    @activity.defn(name="create_pick_list")
    async def create_pick_list(self, req: CreatePickList) -> PickListCreated:
        allocation = req.allocation
        pick_list_id = pick_list_id_for(allocation.allocation_id, allocation.warehouse)
        with structlog.contextvars.bound_contextvars(order_id=req.order_id, pick_list_id=pick_list_id):
            async with self._sessions.begin() as s:
                await fulfilment.open_pick_list(s, pick_list_id, req.order_id, allocation.warehouse, allocation.lines)
                entry = TimelineEntry(
                    utcnow(), OrderStatus.PICKING, "pick_list_created", f"{pick_list_id} in {allocation.warehouse}"
                )
                await orders.project(
                    s,
                    ProjectOrder(req.order_id, req.status, [KeyedEntry(f"picking:{pick_list_id}", entry)], seq=req.seq),
                )
            log.info("pick list open", auto_confirm_after=self._auto_confirm_after)
            return PickListCreated(pick_list_id=pick_list_id, auto_confirm_after_seconds=self._auto_confirm_after)
