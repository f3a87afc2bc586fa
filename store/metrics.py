"""Business metrics for Prometheus, counted in the database at scrape time.

The database is the one place every API and worker process writes to, so a figure read from it is
the same whichever API process is scraped and is never counted twice (docs/operations.md). Durations
are bucketed in SQL: the rows never leave the database.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Float, case, cast, extract, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.tables import OrderExceptionRow, OrderRow, Shipment, WebhookDeliveryRow

HOUR = 3600.0
# Received → shipped: from an hour to two weeks.
CYCLE_BUCKETS: tuple[float, ...] = tuple(h * HOUR for h in (1, 4, 8, 12, 24, 48, 72, 120, 168, 336))
# Opened → resolved: from five minutes to three days.
RESOLUTION_BUCKETS: tuple[float, ...] = (300, 900, 1800, HOUR, 2 * HOUR, 4 * HOUR, 8 * HOUR, 24 * HOUR, 72 * HOUR)
OPEN_STATUSES_EXCLUDED = ("completed", "delivered", "cancelled")


@dataclass(frozen=True)
class Histogram:
    """Cumulative counts per upper bound (the last is +Inf), and the sum of the observations."""

    buckets: list[tuple[float, int]]
    total: float


@dataclass(frozen=True)
class BusinessMetrics:
    orders_received: dict[str, int]  # per channel
    order_cycle: Histogram
    exceptions_opened: dict[str, int]  # per kind
    exception_resolution: dict[str, Histogram]  # per kind
    open_exceptions: dict[str, int]  # per kind
    orders_at_risk: int
    webhook_deliveries: dict[str, int]  # per status: pending, delivered, failed (the dead letters)


def _seconds(dialect: str, end: Any, start: Any) -> ColumnElement[float]:
    # SQLite keeps timestamps as text: julianday() reads them; PostgreSQL subtracts timestamps.
    if dialect == "sqlite":
        return cast((func.julianday(end) - func.julianday(start)) * 86400.0, Float)
    return cast(extract("epoch", end - start), Float)


def _histogram_columns(seconds: ColumnElement[float], bounds: Sequence[float]) -> list[Any]:
    return [
        *(func.sum(case((seconds <= bound, 1), else_=0)) for bound in bounds),
        func.count(),
        func.coalesce(func.sum(seconds), 0.0),
    ]


def _histogram(row: Sequence[object], bounds: Sequence[float]) -> Histogram:
    counts = [int(str(value or 0)) for value in row[: len(bounds) + 1]]
    return Histogram([*zip([*bounds, float("inf")], counts, strict=True)], float(str(row[len(bounds) + 1] or 0)))


async def read(session: AsyncSession) -> BusinessMetrics:
    dialect = session.get_bind().dialect.name
    received = {
        row[0]: int(row[1])
        for row in await session.execute(select(OrderRow.channel, func.count()).group_by(OrderRow.channel))
    }
    last_shipped = (
        select(Shipment.order_id, func.max(Shipment.shipped_at).label("at")).group_by(Shipment.order_id).subquery()
    )
    cycle = _seconds(dialect, last_shipped.c.at, OrderRow.created_at)
    cycle_row = (
        await session.execute(
            select(*_histogram_columns(cycle, CYCLE_BUCKETS))
            .select_from(OrderRow)
            .join(last_shipped, last_shipped.c.order_id == OrderRow.order_id)
            .where(OrderRow.status.in_(("shipped", "completed", "delivered")))
        )
    ).one()
    opened: dict[str, int] = {}
    still_open: dict[str, int] = {}
    for kind, count, unresolved in await session.execute(
        select(
            OrderExceptionRow.kind,
            func.count(),
            func.sum(case((OrderExceptionRow.resolved_at.is_(None), 1), else_=0)),
        ).group_by(OrderExceptionRow.kind)
    ):
        opened[kind] = int(count)
        still_open[kind] = int(unresolved or 0)
    resolution = _seconds(dialect, OrderExceptionRow.resolved_at, OrderExceptionRow.raised_at)
    resolved = {
        row[0]: _histogram(row[1:], RESOLUTION_BUCKETS)
        for row in await session.execute(
            select(OrderExceptionRow.kind, *_histogram_columns(resolution, RESOLUTION_BUCKETS))
            .where(OrderExceptionRow.resolved_at.is_not(None))
            .group_by(OrderExceptionRow.kind)
        )
    }
    at_risk = (
        await session.execute(
            select(func.count()).where(OrderRow.at_risk.is_(True), OrderRow.status.not_in(OPEN_STATUSES_EXCLUDED))
        )
    ).scalar_one()
    deliveries = {
        row[0]: int(row[1])
        for row in await session.execute(
            select(WebhookDeliveryRow.status, func.count()).group_by(WebhookDeliveryRow.status)
        )
    }
    return BusinessMetrics(
        orders_received=received,
        order_cycle=_histogram(cycle_row, CYCLE_BUCKETS),
        exceptions_opened=opened,
        exception_resolution=resolved,
        open_exceptions=still_open,
        orders_at_risk=int(at_risk),
        webhook_deliveries={status: deliveries.get(status, 0) for status in ("pending", "delivered", "failed")},
    )
