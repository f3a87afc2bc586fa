"""The facts of the return rate KPI (domain/return_kpis.py), read apart from the other KPI facts
(store/kpis.py): for the orders received in the window — filtered as every KPI is — the units their
shipments took (reservations consumed by a shipment) and their returns, whenever those happened."""

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.return_kpis import ReturnFacts, Shipped
from store.kpis import KpiFilter
from store.tables import OrderRow, Reservation, ReturnRow, Shipment


def _cohort(f: KpiFilter) -> Select[Any]:
    """The window's orders, as store/kpis.py selects them: received in [start, end), with the filters."""
    query = select(OrderRow.order_id).where(OrderRow.created_at >= f.start, OrderRow.created_at < f.end)
    if f.channel:
        query = query.where(OrderRow.channel == f.channel)
    if f.warehouse:
        query = query.where(
            OrderRow.order_id.in_(select(Reservation.order_id).where(Reservation.warehouse == f.warehouse))
        )
    if f.carrier:
        query = query.where(OrderRow.order_id.in_(select(Shipment.order_id).where(Shipment.carrier == f.carrier)))
    return query


async def facts(session: AsyncSession, f: KpiFilter) -> tuple[Shipped, list[ReturnFacts]]:
    cohort = _cohort(f).scalar_subquery()
    orders, units = (
        await session.execute(
            select(
                func.count(func.distinct(Reservation.order_id)), func.coalesce(func.sum(Reservation.quantity), 0)
            ).where(Reservation.state == "consumed", Reservation.order_id.in_(cohort))
        )
    ).one()
    rows = await session.execute(
        select(ReturnRow.order_id, ReturnRow.status, ReturnRow.lines, ReturnRow.received).where(
            ReturnRow.order_id.in_(cohort)
        )
    )
    returns = []
    for order_id, status, lines, received in rows.all():
        dispositions: dict[str, int] = {}
        for line in received or []:
            dispositions[line["disposition"]] = dispositions.get(line["disposition"], 0) + int(line["quantity"])
        returns.append(ReturnFacts(order_id, status, sum(int(line["quantity"]) for line in lines), dispositions))
    return Shipped(int(orders), int(units)), returns
