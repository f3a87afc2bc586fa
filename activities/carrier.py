"""Shipping: book the parcel with a carrier (the built-in one, or an external TMS) and record the shipment."""

import hashlib
from dataclasses import dataclass
from typing import Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from domain.addresses import undeliverable_reason
from domain.contract import ErrorType
from domain.orders import OrderStatus, TimelineEntry
from domain.steps import BookShipment, KeyedEntry, ProjectOrder, ShipmentBooked
from store import fulfilment, inventory, orders
from store.sql import utcnow

log = structlog.get_logger(__name__)


def tracking_number_for(shipment_id: str) -> str:
    digest = int(hashlib.sha256(shipment_id.encode()).hexdigest(), 16)
    return f"OF{digest % 10**12:012d}"


@dataclass(frozen=True)
class Booking:
    carrier: str
    tracking_number: str


class Carrier(Protocol):
    async def book(self, shipment_id: str, req: BookShipment) -> Booking:
        """Book the parcel; the same shipment_id again must answer the same booking."""
        ...


class BuiltinCarrier:
    """Our own carrier: checks the postal code and numbers the tracking from the shipment id."""

    def __init__(self, name: str) -> None:
        self._name = name

    async def book(self, shipment_id: str, req: BookShipment) -> Booking:
        reason = undeliverable_reason(req.ship_to)
        if reason is not None:
            # A business answer, not a glitch: retrying the same address cannot help.
            raise ApplicationError(
                f"carrier rejected the address: {reason}",
                type=ErrorType.ADDRESS_REJECTED,
                non_retryable=True,
                category=ApplicationErrorCategory.BENIGN,
            )
        return Booking(self._name, tracking_number_for(shipment_id))


class CarrierActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], carrier: Carrier | str) -> None:
        """`carrier` by name is the built-in carrier under that name."""
        self._sessions = sessions
        self._external = not isinstance(carrier, str)
        self._carrier = BuiltinCarrier(carrier) if isinstance(carrier, str) else carrier

    @activity.defn(name="book_shipment")
    async def book_shipment(self, req: BookShipment) -> ShipmentBooked:
        """Ship what was picked: the pick list closes, the reservation becomes stock that left."""
        shipment_id = f"SH-{req.pick_list_id.removeprefix('PL-')}"
        with structlog.contextvars.bound_contextvars(order_id=req.order_id, shipment_id=shipment_id):
            if self._external:  # an external TMS is asked only while no earlier attempt recorded a booking
                async with self._sessions() as s:
                    existing = await fulfilment.shipment_for(s, req.pick_list_id)
                if existing is not None:
                    return ShipmentBooked(existing.shipment_id, existing.carrier, existing.tracking_number)
            booking = await self._carrier.book(shipment_id, req)
            carrier, tracking = booking.carrier, booking.tracking_number
            async with self._sessions.begin() as s:
                # The shipment row goes in first: when an earlier attempt recorded one, nothing is written.
                if not await fulfilment.add_shipment(s, shipment_id, req.order_id, req.pick_list_id, carrier, tracking):
                    existing = await fulfilment.shipment_for(s, req.pick_list_id)
                    if existing is not None:
                        return ShipmentBooked(existing.shipment_id, existing.carrier, existing.tracking_number)
                await fulfilment.mark_picked(s, req.pick_list_id, req.picked_at, req.picked_by)
                await inventory.consume(s, req.allocation.allocation_id)
                picked = TimelineEntry(
                    req.picked_at, OrderStatus.PICKING, "picked", req.pick_list_id, actor=req.picked_by
                )
                shipped = TimelineEntry(utcnow(), OrderStatus.SHIPPED, "shipped", f"{carrier} {tracking}")
                await orders.project(
                    s,
                    ProjectOrder(
                        req.order_id,
                        req.status,
                        [
                            KeyedEntry(f"picked:{req.pick_list_id}", picked),
                            KeyedEntry(
                                f"shipped:{shipment_id}",
                                shipped,
                                {"shipment_id": shipment_id, "carrier": carrier, "tracking_number": tracking},
                            ),
                        ],
                        seq=req.seq,
                    ),
                )
            log.info("shipment booked", tracking_number=tracking)
            return ShipmentBooked(shipment_id, carrier, tracking)
