"""The KPI rollup (table kpi_counts): counts per UTC hour and per UTC day, per channel and for all channels,
kept by the projection.

What a change tells the KPIs (domain.kpi_marks) rides on the projection's own status write: the same
UPDATE of the order's row ORs in the bits, keeps the times and units, and hands back (RETURNING) the row
with `kpi_new`, the bits this write newly set. From that row alone the projection knows what moved:
- the order reached completed, delivered or cancelled for the first time: its whole contribution
  (domain.kpi_tally.add_order) goes into the hour it was received in, and the order is `kpi_settled`;
- a settled order learnt a new fact (delivered, a touch, an error): the difference goes in;
- its first warning came: the lead time to ship-by, settled or not (KPIs never read it off the order);
- it completed: one completion in the hour it completed; people acted: they count in their hour;
- an exception was resolved: its response times go into the hour it was raised in.
All of it is one INSERT ... ON CONFLICT DO UPDATE per projection, and only when something moved.
Orders not yet settled are read from their rows when KPIs are asked (store/kpi_read.py).
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Insert, Integer, Row, Table, bindparam, case, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from domain.exceptions import OrderException
from domain.kpi_marks import COMPLETED, FACT_BITS, SETTLED, WARNED, WARNED_48H, Marks, order_facts
from domain.kpi_tally import Tally, add_exception, add_order, add_warning, epoch_hour
from domain.kpis import EARLY_WARNING_HOURS, ExceptionFacts, first_human_action
from store.tables import KPI_COUNTS, OrderExceptionRow, OrderRow
from store.tables.base import TS

HOUR, DAY = 1, 24  # kpi_counts.span: a row counts one hour, or one UTC day (period: hours // span since 1970)
ALL_CHANNELS = "*"  # kpi_counts.channel of the counts of every channel together
ORDERS: Table = OrderRow.__table__  # type: ignore[assignment]
EXCEPTIONS: Table = OrderExceptionRow.__table__  # type: ignore[assignment]

_bits = bindparam("p_kpi_bits", type_=Integer)
_shipped = bindparam("p_kpi_shipped_at", type_=TS)
_delivered = bindparam("p_kpi_delivered_at", type_=TS)
_warned = bindparam("p_kpi_warned_at", type_=TS)
_units_first = bindparam("p_kpi_units_first", type_=Integer)
_warned_48h = bindparam("p_kpi_warned_48h", type_=TS)  # the warning's time plus 48 hours
_o = ORDERS.c
# The bits the write brings: the change's, and WARNED_48H when its warning is the order's first and came
# 48 h or more before ship-by (the row has ship-by; the change has the warning).
_added = _bits.op("|")(
    case(
        (_warned_48h.is_not(None) & _o.kpi_warned_at.is_(None) & (_o.ship_by >= _warned_48h), WARNED_48H),
        else_=0,
    )
)
# SET expressions read the row as it was before the write, on SQLite and PostgreSQL alike.
KPI_SET: dict[str, Any] = {
    "kpi_flags": _o.kpi_flags.op("|")(_added),
    "kpi_new": _added - _o.kpi_flags.op("&")(_added),
    "kpi_shipped_at": case(
        (_shipped.is_(None), _o.kpi_shipped_at),
        (_o.kpi_shipped_at.is_(None) | (_o.kpi_shipped_at < _shipped), _shipped),
        else_=_o.kpi_shipped_at,
    ),
    "kpi_delivered_at": func.coalesce(_delivered, _o.kpi_delivered_at),
    "kpi_warned_at": case(
        (_warned.is_(None), _o.kpi_warned_at),
        (_o.kpi_warned_at.is_(None) | (_o.kpi_warned_at > _warned), _warned),
        else_=_o.kpi_warned_at,
    ),
    "kpi_units_first": func.coalesce(_o.kpi_units_first, _units_first),
    "kpi_settled": case((_bits.op("&")(SETTLED) != 0, True), else_=_o.kpi_settled),
}
RETURNED = (
    _o.channel,
    _o.created_at,
    _o.status,
    _o.ship_by,
    _o.kpi_flags,
    _o.kpi_new,
    _o.kpi_shipped_at,
    _o.kpi_delivered_at,
    _o.kpi_warned_at,
    _o.kpi_units_ordered,
    _o.kpi_units_first,
)
_MATCH = _o.order_id == bindparam("match_order_id")
# The projection's status write with the marks (store/orders._set_status), and the marks alone (a late
# write, or an order that its caller has just recorded).
SET_STATUS_AND_MARKS = (
    update(ORDERS).where(_MATCH, _o.status_seq <= bindparam("match_seq")).values(**KPI_SET).returning(*RETURNED)
)
SET_MARKS = update(ORDERS).where(_MATCH).values(**KPI_SET).returning(*RETURNED)
# Resolving an exception: `kpi_new` says whether this write is the one that resolved it.
RESOLVE_EXCEPTION = (
    update(EXCEPTIONS)
    .where(EXCEPTIONS.c.exception_id == bindparam("match_exception_id"))
    .values(kpi_new=case((EXCEPTIONS.c.resolved_at.is_(None), 1), else_=0))
    .returning(EXCEPTIONS.c.kpi_new, EXCEPTIONS.c.acknowledged_at)
)


def channel_of(order_id: str) -> str:
    """An order ID is `{channel}-{external_id}`, and a channel never contains "-" (domain/orders.py)."""
    return order_id.split("-", 1)[0]


def marks_params(marks: Marks) -> dict[str, Any]:
    return {
        "p_kpi_bits": marks.bits,
        "p_kpi_shipped_at": marks.shipped_at,
        "p_kpi_delivered_at": marks.delivered_at,
        "p_kpi_warned_at": marks.warned_at,
        "p_kpi_units_first": marks.units_first,
        "p_kpi_warned_48h": marks.warned_at + timedelta(hours=EARLY_WARNING_HOURS) if marks.warned_at else None,
    }


class Moves:
    """The rollup rows one projection adds, by (hour, channel)."""

    def __init__(self) -> None:
        self.tallies: dict[tuple[int, str], Tally] = defaultdict(Tally)

    def order_written(self, order_id: str, row: Row[Any], marks: Marks, now: datetime) -> None:
        """What the order's row, as the marked write returned it, moves in the rollup."""
        flags, new = row.kpi_flags, row.kpi_new
        channel = row.channel
        received = epoch_hour(row.created_at)

        def facts(bits: int) -> Any:
            return order_facts(
                order_id,
                channel,
                row.created_at,
                row.status,
                row.ship_by,
                bits,
                row.kpi_shipped_at,
                row.kpi_delivered_at,
                row.kpi_warned_at,
                row.kpi_units_ordered,
                row.kpi_units_first,
            )

        tally = self.tallies[received, channel]
        if new & WARNED:  # counted when it comes, settled or not: KPIs never read it off the order
            add_warning(tally, facts(flags))
        if new & SETTLED:
            add_order(tally, facts(flags), now, warning=False)
        elif flags & SETTLED and new & FACT_BITS:
            add_order(tally, facts(flags), now, warning=False)
            add_order(tally, facts(flags & ~new), now, sign=-1, warning=False)
        if new & COMPLETED:
            self.tallies[epoch_hour(marks.completed_at or now), channel].counts["completed"] += 1
        for at, actor in marks.people:
            self.tallies[epoch_hour(at), channel].people.add(actor)

    def exception_resolved(self, channel: str, exception: OrderException, acknowledged_at: datetime | None) -> None:
        resolved_at = exception.resolved_at
        first = first_human_action(resolved_at, exception.resolved_by, acknowledged_at)
        facts = ExceptionFacts(exception.kind.value, exception.raised_at, first, resolved_at)
        add_exception(self.tallies[epoch_hour(exception.raised_at), channel], facts)

    def rows(self) -> list[dict[str, Any]]:
        """Each count four times: for its hour and its UTC day, for its channel and for all channels."""
        added: dict[tuple[int, int, str, str, int], list[int]] = defaultdict(lambda: [0, 0])
        for (hour, channel), tally in self.tallies.items():
            for name, bin_, n, total in tally.rows():
                for span, period in ((HOUR, hour), (DAY, hour // DAY)):
                    for key in (channel, ALL_CHANNELS):
                        counts = added[span, period, key, name, bin_]
                        counts[0] += n
                        counts[1] += total
        return [
            {"span": span, "period": period, "channel": channel, "name": name, "bin": bin_, "n": n, "total": total}
            for (span, period, channel, name, bin_), (n, total) in sorted(added.items())
        ]


@cache
def _adding(dialect: str) -> Insert:
    """INSERT into kpi_counts, adding to a count that is already there."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(KPI_COUNTS)
    counts = KPI_COUNTS.c
    return statement.on_conflict_do_update(
        index_elements=["channel", "span", "period", "name", "bin"],
        set_={"n": counts.n + statement.excluded.n, "total": counts.total + statement.excluded.total},
    )


async def add(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Add the rows' counts to the rollup, in the caller's transaction: one statement."""
    if rows:
        await session.execute(_adding(session.get_bind().dialect.name), list(rows))
