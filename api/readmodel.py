"""An order's view rebuilt from the read model, when its workflow cannot answer (gone, or no worker)."""

from sqlalchemy.ext.asyncio import AsyncSession

from api.order_schemas import (
    AddressIn,
    CustomerIn,
    ExceptionOut,
    FulfilmentOut,
    InvoiceOut,
    OrderOut,
    RuleFiringOut,
    ShipmentOut,
    TimelineOut,
    line_progress,
)
from api.schemas import Money, StockLineOut
from domain.exceptions import Action, ExceptionKind
from domain.orders import OrderLine, OrderStatus, Priority
from store import deliveries, fulfilment, orders
from store import rules as rule_store


async def order_from_read_model(session: AsyncSession, order_id: str) -> OrderOut | None:
    row = await orders.get(session, order_id)
    if row is None:
        return None
    cur = row.currency
    fulfilments = [
        FulfilmentOut(
            allocation_id=pick_list.pick_list_id.removeprefix("PL-").removesuffix(f"-{pick_list.warehouse}"),
            warehouse=pick_list.warehouse,
            lines=[StockLineOut(**line) for line in pick_list.lines],
            pick_list_id=pick_list.pick_list_id,
            picked_at=pick_list.confirmed_at,
            picked_by=pick_list.confirmed_by,
            shipment=ShipmentOut(
                shipment_id=shipment.shipment_id,
                carrier=shipment.carrier,
                tracking_number=shipment.tracking_number,
                handed_over_at=shipment.handed_over_at,
                delivered_at=shipment.delivered_at,
                received_by=shipment.received_by,
            )
            if shipment
            else None,
            invoice=InvoiceOut(number=invoice.number, amount=Money.of(invoice.amount, cur))
            if invoice and invoice.number
            else None,
            cancelled=pick_list.state == "cancelled",
        )
        for pick_list, shipment, invoice in await fulfilment.of_order(session, order_id)
    ]
    lines = [
        OrderLine(line.sku, line.quantity, line.unit_price, gift=line.gift)
        for line in await orders.lines_of(session, order_id)
    ]
    return OrderOut(
        order_id=row.order_id,
        status=OrderStatus(row.status),
        channel=row.channel,
        external_id=row.external_id,
        customer=CustomerIn.model_construct(id=row.customer_id, name=row.customer_name, email=row.customer_email),
        ship_to=AddressIn.model_construct(**row.ship_to),
        lines=line_progress(lines, cur, fulfilments),
        total=Money.of(row.total, cur),
        priority=Priority(row.priority),
        ship_by=row.ship_by,
        at_risk=row.at_risk,
        fulfilments=fulfilments,
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
            TimelineOut(at=e.occurred_at, status=OrderStatus(e.status), event=e.event, detail=e.detail, actor=e.actor)
            for e in await orders.timeline_of(session, order_id)
        ],
        rules=[
            RuleFiringOut(rule=f"{f.rule_id}@{f.version}", name=name, did=f.did, overridden=f.overridden)
            for f, name in await rule_store.firings_of_order(session, order_id)
        ],
    )


async def with_late_reports(session: AsyncSession, view: OrderOut) -> OrderOut:
    """A completed order whose workflow closed before the carrier reported: add what the read model
    recorded since (api/callbacks.py) — delivery times, their timeline entries, status `delivered`."""
    late = await deliveries.late_events(session, view.order_id)
    if not late:
        return view
    row = await orders.get(session, view.order_id)
    shipments = {s.shipment_id: s for _, s, _ in await fulfilment.of_order(session, view.order_id) if s}
    for f in view.fulfilments:
        recorded = shipments.get(f.shipment.shipment_id) if f.shipment else None
        if f.shipment is not None and recorded is not None:
            f.shipment.handed_over_at = f.shipment.handed_over_at or recorded.handed_over_at
            f.shipment.delivered_at = f.shipment.delivered_at or recorded.delivered_at
            f.shipment.received_by = f.shipment.received_by or recorded.received_by
    timeline = view.timeline + [
        TimelineOut(at=e.occurred_at, status=OrderStatus(e.status), event=e.event, detail=e.detail, actor=e.actor)
        for e in late
    ]
    status = OrderStatus(row.status) if row is not None else view.status
    return view.model_copy(update={"status": status, "timeline": timeline})
