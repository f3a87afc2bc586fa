"""What a backordered order can expect: for each SKU it waits for, the inbound by which enough of it is
due (domain/inbound_eta.py, the rule the order's workflow warns by)."""

from sqlalchemy.ext.asyncio import AsyncSession

from api.foresight_schemas import ExpectedInboundOut
from api.order_schemas import OrderOut
from domain.inbound_eta import arrivals
from domain.steps import StockLine
from store import inbound as inbound_store


async def with_expected_inbound(session: AsyncSession, out: OrderOut) -> OrderOut:
    if not out.backordered:
        return out
    waiting = [StockLine(line.sku, line.quantity) for line in out.backordered]
    expected = await inbound_store.expected_for(session, [line.sku for line in waiting])
    out.expected_inbound = [
        ExpectedInboundOut(
            sku=a.sku,
            inbound_id=a.inbound.inbound_id,
            reference=a.inbound.reference,
            warehouse=a.inbound.warehouse,
            quantity=a.inbound.outstanding,
            expected_at=a.inbound.expected_at,
            after_promise=a.after(out.ship_by),
        ).model_dump(mode="json")
        for a in arrivals(waiting, expected)
        if a.inbound is not None
    ]
    return out
