"""What the carrier reported about shipments: handed over, delivered. Each time is written once."""

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.deliveries import DeliveryProgress
from store.tables import OrderEvent, Shipment


async def get_shipment(session: AsyncSession, shipment_id: str) -> Shipment | None:
    return await session.get(Shipment, shipment_id)


async def mark_handed_over(session: AsyncSession, shipment_id: str, at: datetime) -> bool:
    """True when this call recorded the handover (the first report wins)."""
    result = await session.execute(
        update(Shipment)
        .where(Shipment.shipment_id == shipment_id, Shipment.handed_over_at.is_(None))
        .values(handed_over_at=at)
    )
    return bool(getattr(result, "rowcount", 0))


async def mark_delivered(session: AsyncSession, shipment_id: str, at: datetime, received_by: str | None) -> bool:
    """True when this call recorded the delivery (the first report wins)."""
    result = await session.execute(
        update(Shipment)
        .where(Shipment.shipment_id == shipment_id, Shipment.delivered_at.is_(None))
        .values(delivered_at=at, received_by=received_by)
    )
    return bool(getattr(result, "rowcount", 0))


async def progress_of(session: AsyncSession, order_id: str) -> DeliveryProgress:
    result = await session.execute(
        select(Shipment.shipment_id, Shipment.delivered_at).where(Shipment.order_id == order_id)
    )
    return DeliveryProgress({row.shipment_id: row.delivered_at for row in result})


# Timeline keys of reports recorded after the order's workflow closed.
LATE = "late:"


async def late_events(session: AsyncSession, order_id: str) -> list[OrderEvent]:
    result = await session.execute(
        select(OrderEvent)
        .where(OrderEvent.order_id == order_id, OrderEvent.key.startswith(LATE, autoescape=True))
        .order_by(OrderEvent.id)
    )
    return list(result.scalars())
