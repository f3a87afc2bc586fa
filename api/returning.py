"""Requesting returns and acting on them: the read model's checks here, the workflow calls through
`gateway.returns`."""

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.problems import ProblemError, invalid, not_found
from config import Settings
from domain.contract import Update
from domain.deliveries import Partner
from domain.returns import NewReturn, ReturnLine, ReturnView
from gateway import returns as gateway
from gateway.returns import ReturnClosed
from store import returns
from store.tables import OrderRow


async def request(
    temporal: Client,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    order_id: str,
    lines: list[ReturnLine],
    note: str,
    actor: str,
) -> str:
    """Record the return (its lines checked against what shipped, within the window, and not already on
    another return), then start its workflow. 422 names the line at fault."""
    return_id = returns.new_return_id()
    async with sessions.begin() as s:
        order = await s.get(OrderRow, order_id)
        if order is None:
            raise not_found(f"order {order_id}")
        new = NewReturn(return_id, order_id, order.currency, lines, note, actor, settings.return_policy())
        problems = await returns.create(s, new, timedelta(days=settings.return_window_days))
        if problems:
            raise invalid(problems)
    await gateway.start(temporal, settings.task_queue, new)
    return return_id


async def live_view(temporal: Client, return_id: str) -> ReturnView | None:
    return await gateway.view(temporal, return_id)


async def control(
    temporal: Client,
    sessions: async_sessionmaker[AsyncSession],
    return_id: str,
    update: Update,
    request: object,
    update_id: str | None = None,
) -> ReturnView:
    """A person's (or the warehouse's) request to the return, as an update; a refusal becomes 409."""
    try:
        return await gateway.control(temporal, return_id, update, request, update_id)
    except ReturnClosed:
        pass
    async with sessions() as s:
        recorded = await returns.get(s, return_id)
    if recorded is None:
        raise not_found(f"return {return_id}")
    raise ProblemError(409, "Request does not apply", f"the return is {recorded.status}; its workflow has finished")


async def receivable_by(
    sessions: async_sessionmaker[AsyncSession], partner: Partner, return_id: str, warehouse: str
) -> str | None:
    """The return's order when `partner` may report the return arriving in `warehouse`: a return of an
    order that shipped from one of the partner's warehouses, received into one of them. None otherwise
    (answered 404, as for a return that does not exist)."""
    async with sessions() as s:
        row = await returns.get(s, return_id)
        shipped_from = await returns.shipped_from(s, row.order_id) if row is not None else set()
    if row is None or not partner.speaks_for_warehouse(warehouse):
        return None
    return row.order_id if any(partner.speaks_for_warehouse(code) for code in shipped_from) else None
