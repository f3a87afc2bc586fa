"""An order's returns on its view: each return with its status, lines, what arrived and its refund, and
the return's events merged into the order's timeline (`return_requested`, `return_received`,
`return_refunded`, ...). Read from the returns' read model, which their workflows write at every change."""

import heapq

from sqlalchemy.ext.asyncio import AsyncSession

from api.change_schemas import ReturnOut
from api.order_schemas import OrderOut, TimelineOut
from store import returns


async def with_returns(session: AsyncSession, out: OrderOut) -> OrderOut:
    recorded = await returns.of_order(session, out.order_id)
    if not recorded:
        return out
    views = [ReturnOut.from_row(row, credit_note) for row, credit_note in recorded]
    entries = sorted(
        (
            TimelineOut(
                at=e.at,
                status=out.status,  # the order's own status: a return does not move it
                event=f"return_{e.event}",
                detail=f"{view.return_id}: {e.detail}".rstrip(": "),
                actor=e.actor,
            )
            for view in views
            for e in view.events
        ),
        key=lambda entry: entry.at,
    )
    timeline = list(heapq.merge(out.timeline, entries, key=lambda entry: entry.at))
    return out.model_copy(update={"returns": views, "timeline": timeline})
