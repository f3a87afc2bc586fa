"""What a backordered order can expect: the soonest open inbound of each SKU it waits for."""

from sqlalchemy.ext.asyncio import AsyncSession

from api.foresight_schemas import ExpectedInboundOut
from api.order_schemas import OrderOut
from store import inbound as inbound_store


async def with_expected_inbound(session: AsyncSession, out: OrderOut) -> OrderOut:
    if not out.backordered:
        return out
    expected: dict[str, ExpectedInboundOut] = {}
    for e in await inbound_store.expected_for(session, [line.sku for line in out.backordered]):
        expected.setdefault(
            e.sku,
            ExpectedInboundOut(
                sku=e.sku,
                inbound_id=e.inbound_id,
                reference=e.reference,
                warehouse=e.warehouse,
                quantity=e.outstanding,
                expected_at=e.expected_at,
                after_promise=out.ship_by is not None and e.expected_at > out.ship_by,
            ),
        )
    out.expected_inbound = [
        expected[line.sku].model_dump(mode="json") for line in out.backordered if line.sku in expected
    ]
    return out
