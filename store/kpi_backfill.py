"""Fill the KPI rollup from the read model: the order rows' marks and kpi_counts, as the projection would
have kept them (store/kpi_rollup.py), for orders recorded before it did. Migration 0017_kpi_rollup runs
it on upgrade; `python -m store.kpi_backfill --database-url URL` runs it again (on empty KPI tables).

Each UTC day of each channel is read with store/kpis.facts (the exact reading) and turned into tallies
by the same domain functions and the same rollup statement the projection uses.
"""

import argparse
import asyncio
from collections import defaultdict
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.kpi_marks import SETTLED_STATUSES, flags_of
from domain.kpi_tally import Tally, add_exception, add_order, add_warning, epoch_hour
from domain.kpis import PERSON_PREFIX, is_person
from store import kpi_rollup, kpis
from store.sql import utcnow
from store.tables import AlertRow, OrderEvent, OrderExceptionRow, OrderRow

DAY = timedelta(days=1)
_ORDER_MARKS = (
    update(OrderRow.__table__)  # type: ignore[arg-type]
    .where(OrderRow.__table__.c.order_id == bindparam("match_order_id"))
    .values(
        kpi_hour=bindparam("p_hour"),
        kpi_flags=bindparam("p_flags"),
        kpi_settled=bindparam("p_settled"),
        kpi_shipped_at=bindparam("p_shipped_at"),
        kpi_delivered_at=bindparam("p_delivered_at"),
        kpi_warned_at=bindparam("p_warned_at"),
        kpi_units_ordered=bindparam("p_units_ordered"),
        kpi_units_first=bindparam("p_units_first"),
    )
)
_ACKNOWLEDGED = (
    update(OrderExceptionRow.__table__)  # type: ignore[arg-type]
    .where(OrderExceptionRow.__table__.c.exception_id == bindparam("match_exception_id"))
    .values(acknowledged_at=bindparam("p_at"))
)


async def backfill(session: AsyncSession, channels: list[str] | None = None) -> int:
    """Mark every order (of these channels) and fill kpi_counts; returns the orders marked."""
    acks = await session.execute(
        select(AlertRow.exception_id, func.min(AlertRow.acknowledged_at))
        .where(AlertRow.exception_id.is_not(None), AlertRow.acknowledged_by.startswith(PERSON_PREFIX))
        .group_by(AlertRow.exception_id)
    )
    if params := [{"match_exception_id": e, "p_at": at} for e, at in acks]:
        await session.execute(_ACKNOWLEDGED, params)
    if channels is None:
        channels = list((await session.execute(select(OrderRow.channel).distinct())).scalars())
    ours = OrderRow.channel.in_(channels)
    first = (await session.execute(select(func.min(OrderRow.created_at)).where(ours))).scalar()
    if first is None:
        return 0
    times = [
        (await session.execute(select(func.max(OrderRow.created_at)).where(ours))).scalar(),
        (await session.execute(select(func.max(OrderEvent.occurred_at)).join(OrderRow).where(ours))).scalar(),
        (await session.execute(select(func.max(OrderExceptionRow.raised_at)).join(OrderRow).where(ours))).scalar(),
    ]
    last = max(_utc(t) for t in times if t is not None)
    now, marked = utcnow(), 0
    day = _utc(first).replace(hour=0, minute=0, second=0, microsecond=0)
    while day <= last:
        for channel in channels:
            marked += await _day(session, kpis.KpiFilter(day, day + DAY, channel), now)
        day += DAY
    return marked


async def _day(session: AsyncSession, f: kpis.KpiFilter, now: datetime) -> int:
    facts = await kpis.facts(session, f)
    channel = cast(str, f.channel)
    tallies: dict[int, Tally] = defaultdict(Tally)
    marks = []
    for order in facts.orders:
        settled = order.status in SETTLED_STATUSES
        tally = tallies[epoch_hour(order.received_at)]
        add_warning(tally, order)  # as the projection does: when it comes, settled or not
        if settled:
            add_order(tally, order, now, warning=False)
        marks.append(
            {
                "match_order_id": order.order_id,
                "p_hour": epoch_hour(order.received_at),
                "p_flags": flags_of(order, completed=order.status in ("completed", "delivered"), settled=settled),
                "p_settled": settled,
                "p_shipped_at": order.shipped_at,
                "p_delivered_at": order.delivered_at,
                "p_warned_at": order.first_warning_at,
                "p_units_ordered": order.units_ordered,
                "p_units_first": order.units_first_allocation,
            }
        )
    for exception in facts.exceptions:
        if exception.resolved_at is not None:
            add_exception(tallies[epoch_hour(exception.raised_at)], exception)
    for at in facts.completions:
        tallies[epoch_hour(at)].counts["completed"] += 1
    for action in facts.actions:
        if is_person(action.actor):
            tallies[epoch_hour(action.at)].people.add(action.actor)
    if marks:
        await session.execute(_ORDER_MARKS, marks)
    moves = kpi_rollup.Moves()
    moves.tallies.update({(hour, channel): tally for hour, tally in tallies.items()})
    await kpi_rollup.add(session, moves.rows())
    return len(marks)


class _Blocking:
    """An AsyncSession's `execute` over a synchronous connection (a migration's): nothing in the backfill
    waits on anything but its statements, so its coroutine runs to the end in one step."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def execute(self, statement: Any, params: Any = None) -> Any:
        return self._connection.execute(statement, params)

    def get_bind(self) -> Connection:
        return self._connection


def run_blocking(coroutine: Coroutine[Any, Any, int]) -> int:
    try:
        coroutine.send(None)
    except StopIteration as done:
        return cast(int, done.value)
    coroutine.close()
    raise RuntimeError("the KPI backfill waited on something other than its statements")


def backfill_on(connection: Connection) -> int:
    """The backfill on a synchronous connection (migration 0017_kpi_rollup)."""
    return run_blocking(backfill(cast(AsyncSession, _Blocking(connection))))


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


async def _main(url: str) -> None:
    from store.db import create_engine, create_sessions

    engine = create_engine(url)
    try:
        async with create_sessions(engine).begin() as session:
            print(f"{await backfill(session)} orders marked, kpi_counts filled")
    finally:
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    asyncio.run(_main(parser.parse_args().database_url))
