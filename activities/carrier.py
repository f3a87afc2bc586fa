"""The built-in carrier: books a shipment and hands back a tracking number."""

import hashlib

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.addresses import undeliverable_reason
from domain.orders import OrderStatus, TimelineEntry
from domain.steps import BookShipment, KeyedEntry, ProjectOrder, ShipmentBooked
from store import fulfilment, inventory, orders
from store.sql import utcnow

log = structlog.get_logger(__name__)

ADDRESS_REJECTED = "AddressRejected"


def tracking_number_for(shipment_id: str) -> str:
    digest = int(hashlib.sha256(shipment_id.encode()).hexdigest(), 16)
    return f"OF{digest % 10**12:012d}"


class CarrierActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], carrier: str) -> None:
        self._sessions = sessions
        self._carrier = carrier

    @activity.defn(name="book_shipment")
    async def book_shipment(self, req: BookShipment) -> ShipmentBooked:
        """Ship what was picked: the pick list closes, the reservation becomes stock that left."""
        shipment_id = f"SH-{req.pick_list_id.removeprefix('PL-')}"
        with structlog.contextvars.bound_contextvars(order_id=req.order_id, shipment_id=shipment_id):
            reason = undeliverable_reason(req.ship_to)
            if reason is not None:
                # A business answer, not a glitch: retrying the same address cannot help.
                raise ApplicationError(
                    f"carrier rejected the address: {reason}", type=ADDRESS_REJECTED, non_retryable=True
                )
            async with self._sessions.begin() as s:
                existing = await fulfilment.shipment_for(s, req.pick_list_id)
                if existing is not None:
                    return ShipmentBooked(existing.shipment_id, existing.carrier, existing.tracking_number)
                tracking = tracking_number_for(shipment_id)
                await fulfilment.mark_picked(s, req.pick_list_id, req.picked_at, req.picked_by)
                await fulfilment.add_shipment(s, shipment_id, req.order_id, req.pick_list_id, self._carrier, tracking)
                await inventory.consume(s, req.allocation.allocation_id)
                picked = TimelineEntry(
                    req.picked_at, OrderStatus.PICKING, "picked", req.pick_list_id, actor=req.picked_by
                )
                shipped = TimelineEntry(utcnow(), OrderStatus.SHIPPED, "shipped", f"{self._carrier} {tracking}")
                await orders.project(
                    s,
                    ProjectOrder(
                        req.order_id,
                        req.status,
                        [
                            KeyedEntry(f"picked:{req.pick_list_id}", picked),
                            KeyedEntry(f"shipped:{shipment_id}", shipped),
                        ],
                        seq=req.seq,
                    ),
                )
            log.info("shipment booked", tracking_number=tracking)
            return ShipmentBooked(shipment_id, self._carrier, tracking)
