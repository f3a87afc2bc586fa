"""An order's view rebuilt from the read model, for orders whose workflow history is gone."""

from sqlalchemy.ext.asyncio import AsyncSession

from api.schemas import (
    AddressIn,
    CustomerIn,
    ExceptionOut,
    InvoiceOut,
    LineOut,
    Money,
    OrderOut,
    ShipmentOut,
    TimelineOut,
)
from domain.exceptions import Action, ExceptionKind
from domain.orders import OrderStatus, Priority
from store import fulfilment, orders


async def order_from_read_model(session: AsyncSession, order_id: str) -> OrderOut | None:
    row = await orders.get(session, order_id)
    if row is None:
        return None
    cur = row.currency
    shipment = await fulfilment.shipment_of_order(session, order_id)
    invoice = await fulfilment.invoice_for(session, f"{order_id}:invoice")
    return OrderOut(
        order_id=row.order_id,
        status=OrderStatus(row.status),
        channel=row.channel,
        external_id=row.external_id,
        customer=CustomerIn.model_construct(id=row.customer_id, name=row.customer_name, email=row.customer_email),
        ship_to=AddressIn.model_construct(**row.ship_to),
        lines=[
            LineOut(
                sku=line.sku,
                quantity=line.quantity,
                unit_price=Money.of(line.unit_price, cur),
                total=Money.of(line.unit_price * line.quantity, cur),
            )
            for line in await orders.lines_of(session, order_id)
        ],
        total=Money.of(row.total, cur),
        priority=Priority(row.priority),
        ship_by=row.ship_by,
        at_risk=row.at_risk,
        shipment=ShipmentOut(
            shipment_id=shipment.shipment_id,
            carrier=shipment.carrier,
            tracking_number=shipment.tracking_number,
        )
        if shipment
        else None,
        invoice=InvoiceOut(number=invoice.number, amount=Money.of(invoice.amount, invoice.currency))
        if invoice and invoice.number
        else None,
        exceptions=[
            ExceptionOut(
                exception_id=e.exception_id,
                kind=ExceptionKind(e.kind),
                step=e.step,
                message=e.message,
                raised_at=e.raised_at,
                escalation_level=e.escalation_level,
                allowed_actions=[Action(a) for a in e.allowed_actions],
                resolved_at=e.resolved_at,
                resolution=Action(e.resolution) if e.resolution else None,
                resolved_by=e.resolved_by,
                note=e.note,
            )
            for e in await orders.exceptions_of(session, order_id)
        ],
        timeline=[
            TimelineOut(
                at=e.occurred_at,
                status=OrderStatus(e.status),
                event=e.event,
                detail=e.detail,
                actor=e.actor,
            )
            for e in await orders.timeline_of(session, order_id)
        ],
    )
