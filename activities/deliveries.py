"""The carrier's reports after shipping, persisted on the shipment with the workflow's numbered projection."""

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from domain.deliveries import RecordDelivery
from store import deliveries, orders

log = structlog.get_logger(__name__)


class DeliveryActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @activity.defn(name="record_delivery")
    async def record_delivery(self, req: RecordDelivery) -> None:
        """Idempotent: the shipment's time is written only while empty, timeline entries are keyed and the
        status write carries the workflow's sequence number, so a retry or a late run changes nothing."""
        order_id = req.projection.order_id
        with structlog.contextvars.bound_contextvars(order_id=order_id, shipment_id=req.shipment_id):
            async with self._sessions.begin() as s:
                if req.event == "delivered":
                    await deliveries.mark_delivered(s, req.shipment_id, req.at, req.received_by)
                else:
                    await deliveries.mark_handed_over(s, req.shipment_id, req.at)
                await orders.project(s, req.projection)
            log.info("delivery recorded", report=req.event, status=req.projection.status.value)
