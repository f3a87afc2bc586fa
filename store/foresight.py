"""Demand history, forecasts, stock projections and stockout alerts (docs/foresight.md)."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
from sqlalchemy import String, Table, delete, func, insert, select, union, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.events import BusinessEvent
from store import events
from store.tables import (
    Backorder,
    DemandDay,
    ForecastRow,
    OrderLineRow,
    OrderRow,
    ProjectionRow,
    Reservation,
    Stock,
    StockAlertRow,
)

DEMAND: Table = DemandDay.__table__  # type: ignore[assignment]
FORECASTS: Table = ForecastRow.__table__  # type: ignore[assignment]
PROJECTIONS: Table = ProjectionRow.__table__  # type: ignore[assignment]
ALERTS: Table = StockAlertRow.__table__  # type: ignore[assignment]
STOCKOUT_PREDICTED = "stockout_predicted"


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


# ---- demand history -------------------------------------------------------------------------------


async def collect_demand(session: AsyncSession, today: date, history_days: int, default_warehouse: str) -> int:
    """Fold the order lines of whole days not yet collected into daily demand; returns the days added.

    Each line counts on the day its order was received, at the warehouse its first reservation of
    that SKU came from; a line never reserved (backordered, cancelled before allocation) counts at
    the default warehouse. Demand that was backordered is demand all the same."""
    last = (await session.execute(select(func.max(DemandDay.day)))).scalar_one_or_none()
    first = (last + timedelta(days=1)) if last else today - timedelta(days=history_days)
    if first >= today:
        return 0
    lines = (
        await session.execute(
            select(OrderLineRow.order_id, OrderLineRow.sku, OrderLineRow.quantity, OrderRow.created_at)
            .join(OrderRow, OrderRow.order_id == OrderLineRow.order_id)
            .where(OrderRow.created_at >= day_start(first), OrderRow.created_at < day_start(today))
        )
    ).all()
    order_ids = sorted({line[0] for line in lines})
    source: dict[tuple[str, str], str] = {}
    for start in range(0, len(order_ids), 500):
        held = await session.execute(
            select(Reservation.order_id, Reservation.sku, Reservation.warehouse)
            .where(Reservation.order_id.in_(order_ids[start : start + 500]))
            .order_by(Reservation.created_at, Reservation.allocation_id)
        )
        for order_id, sku, warehouse in held.all():
            source.setdefault((order_id, sku), warehouse)
    totals: dict[tuple[str, str, date], int] = {}
    for order_id, sku, quantity, created_at in lines:
        key = (sku, source.get((order_id, sku), default_warehouse), created_at.date())
        totals[key] = totals.get(key, 0) + quantity
    if totals:
        await session.execute(
            insert(DEMAND), [{"sku": s, "warehouse": w, "day": d, "quantity": q} for (s, w, d), q in totals.items()]
        )
    # Days without demand leave no row, so the next run looks at them again: they are still empty.
    return (today - first).days


async def series_skus(session: AsyncSession) -> list[str]:
    """Every SKU with stock or demand somewhere, in order."""
    query = union(select(Stock.sku), select(DemandDay.sku))
    return sorted(row[0] for row in (await session.execute(query)).all())


def _packed_history(session: AsyncSession, in_range: tuple[str, str], first_day: date) -> Any:
    """One row per SKU x warehouse with its days packed as text, "day,quantity;...": a few thousand
    rows to read instead of hundreds of thousands (bench/foresight.py: the read went from most of the
    run to a small part of it). The aggregate's name differs between SQLite and PostgreSQL."""
    if session.get_bind().dialect.name == "postgresql":
        pair = func.cast(DemandDay.day, String) + "," + func.cast(DemandDay.quantity, String)
        packed = func.string_agg(pair, ";")
    else:
        packed = func.group_concat(DemandDay.day.op("||")(",").op("||")(DemandDay.quantity), ";")
    return (
        select(DemandDay.sku, DemandDay.warehouse, packed)
        .where(DemandDay.sku.between(*in_range), DemandDay.day >= first_day)
        .group_by(DemandDay.sku, DemandDay.warehouse)
    )


@dataclass
class SeriesInputs:
    keys: list[tuple[str, str]]  # (sku, warehouse)
    history: Any  # a matrix: one row per key, one column per day
    available: list[int]
    backordered: dict[str, tuple[int, int]]  # per SKU: units and orders waiting


async def series_inputs(
    session: AsyncSession, first_sku: str, last_sku: str, first_day: date, days: int
) -> SeriesInputs:
    in_range = (first_sku, last_sku)
    stock = await session.execute(
        select(Stock.sku, Stock.warehouse, Stock.on_hand - Stock.reserved).where(Stock.sku.between(*in_range))
    )
    available = {(s, w): int(a) for s, w, a in stock.all()}
    history: dict[tuple[str, str], Any] = {}
    start = np.datetime64(first_day, "D")
    for sku, warehouse, packed in await session.execute(_packed_history(session, in_range, first_day)):
        pairs = np.array(packed.replace(";", ",").split(","), dtype=str).reshape(-1, 2)
        offsets = (pairs[:, 0].astype("datetime64[D]") - start).astype(np.int64)
        row = np.zeros(days)
        inside = (offsets >= 0) & (offsets < days)
        np.add.at(row, offsets[inside], pairs[inside, 1].astype(np.float64))
        history[(sku, warehouse)] = row
    keys = sorted(set(available) | set(history))
    waiting = await session.execute(
        select(Backorder.sku, func.sum(Backorder.quantity), func.count(Backorder.order_id))
        .where(Backorder.sku.between(*in_range))
        .group_by(Backorder.sku)
    )
    return SeriesInputs(
        keys=keys,
        history=np.stack([history[k] if k in history else np.zeros(days) for k in keys])
        if keys
        else np.zeros((0, days)),
        available=[available.get(k, 0) for k in keys],
        backordered={sku: (int(q), int(n)) for sku, q, n in waiting.all()},
    )


# ---- results ---------------------------------------------------------------------------------------


async def replace_results(
    session: AsyncSession,
    first_sku: str,
    last_sku: str,
    forecasts: list[dict[str, Any]],
    projections: list[dict[str, Any]],
) -> None:
    """The batch's forecasts and projections replace the previous run's, in one transaction."""
    for table, rows in ((FORECASTS, forecasts), (PROJECTIONS, projections)):
        await session.execute(delete(table).where(table.c.sku.between(first_sku, last_sku)))
        for start in range(0, len(rows), 2000):
            await session.execute(insert(table), rows[start : start + 2000])


async def open_alerts(session: AsyncSession, first_sku: str, last_sku: str) -> dict[tuple[str, str], StockAlertRow]:
    rows = await session.execute(
        select(StockAlertRow).where(StockAlertRow.sku.between(first_sku, last_sku), StockAlertRow.cleared_at.is_(None))
    )
    return {(a.sku, a.warehouse): a for a in rows.scalars()}


async def record_alerts(
    session: AsyncSession, raised: list[dict[str, Any]], cleared: list[str], at: datetime, notices: list[BusinessEvent]
) -> None:
    """New alerts in, cleared ones marked, and their events in the outbox, all at once."""
    if raised:
        await session.execute(insert(ALERTS), raised)
    if cleared:
        await session.execute(
            update(ALERTS).where(ALERTS.c.alert_id.in_(cleared), ALERTS.c.cleared_at.is_(None)).values(cleared_at=at)
        )
    for start in range(0, len(notices), 1000):
        await events.record(session, notices[start : start + 1000])


# ---- reads -----------------------------------------------------------------------------------------


async def forecasts(session: AsyncSession, sku: str | None, warehouse: str | None, limit: int) -> list[ForecastRow]:
    query = select(ForecastRow).order_by(ForecastRow.sku, ForecastRow.warehouse).limit(limit)
    if sku:
        query = query.where(ForecastRow.sku == sku)
    if warehouse:
        query = query.where(ForecastRow.warehouse == warehouse)
    return list((await session.execute(query)).scalars())


async def projections(
    session: AsyncSession,
    at_risk: bool | None,
    to_reorder: bool,
    sku: str | None,
    warehouse: str | None,
    limit: int,
) -> list[ProjectionRow]:
    query = select(ProjectionRow).limit(limit)
    if at_risk is not None:
        query = query.where(ProjectionRow.at_risk.is_(at_risk))
    if to_reorder:
        query = query.where(ProjectionRow.suggested_quantity > 0)
    if sku:
        query = query.where(ProjectionRow.sku == sku)
    if warehouse:
        query = query.where(ProjectionRow.warehouse == warehouse)
    order = (ProjectionRow.stockout_at.is_(None), ProjectionRow.stockout_at, ProjectionRow.sku, ProjectionRow.warehouse)
    return list((await session.execute(query.order_by(*order))).scalars())


async def projection(session: AsyncSession, sku: str, warehouse: str) -> ProjectionRow | None:
    return await session.get(ProjectionRow, (sku, warehouse))


async def alerts(session: AsyncSession, open_only: bool, limit: int) -> list[StockAlertRow]:
    query = select(StockAlertRow).order_by(StockAlertRow.raised_at.desc(), StockAlertRow.alert_id).limit(limit)
    if open_only:
        query = query.where(StockAlertRow.cleared_at.is_(None))
    return list((await session.execute(query)).scalars())


async def alert_count(session: AsyncSession, sku: str, warehouse: str) -> int:
    query = select(func.count()).where(StockAlertRow.sku == sku, StockAlertRow.warehouse == warehouse)
    return int((await session.execute(query)).scalar_one())


def keyed(rows: Sequence[Any]) -> dict[tuple[str, str], Any]:
    return {(r.sku, r.warehouse): r for r in rows}
