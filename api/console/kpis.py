"""The dashboard's KPI tiles: today, the last 7 and the last 30 days, and a 30-day trend of each, from the
code GET /v1/kpis runs (store/kpis.py reads the facts, domain/kpis.py computes them).

The facts are read once, for the last 30 days; the shorter windows and each day of the trend are those
facts cut by time — orders by when they were received, exceptions by when they were raised, completions
and people's actions by when they happened — which is how the store selects them for a window of its
own. Reading them takes long on a large read model, so the tiles are a fragment of their own, loaded after
the page and polled once a minute, and each API process keeps the tiles of each channel for a minute or
five times as long as computing them took, whichever is longer; one computation per channel at a time.
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.kpis import Action, ExceptionFacts, Facts, Kpis, OrderFacts, compute, exception_response
from store import kpis
from store.db import READ_ONLY

DAYS = 30
DAY = timedelta(days=1)
FRESH_SECONDS = 60.0
FRESH_FACTOR = 5  # keep the tiles five times as long as they took

# (catalogue key kpi.<key>, unit, the figure out of the window's KPIs and exception facts)
Figure = Callable[[Kpis, Facts], float | None]


def _exception_response(_: Kpis, facts: Facts) -> float | None:
    """Hours from an exception being raised to a person's first action, median over every kind."""
    every = exception_response([replace(e, kind="all") for e in facts.exceptions]).get("all")
    return every.to_first_action.p50 if every else None


TILES: tuple[tuple[str, str, Figure], ...] = (
    ("cycle_time", "hours", lambda k, _: k.cycle_time.to_shipped.p50),
    ("touchless", "percent", lambda k, _: k.touchless.rate),
    ("error_rate", "percent", lambda k, _: k.errors.rate),
    ("orders_per_person_day", "number", lambda k, _: k.throughput.orders_per_person_per_day),
    ("exception_response", "hours", _exception_response),
    ("on_time", "percent", lambda k, _: k.on_time_ship.rate),
    ("warning_lead", "hours", lambda k, _: k.early_warning.lead_p50),
)


@dataclass(frozen=True)
class KpiTile:
    key: str  # message catalogue key of the tile's name: kpi.<key>
    unit: str  # hours | percent | number: how the template formats the figures
    today: float | None
    last_7_days: float | None
    last_30_days: float | None
    trend: list[float | None]  # one point per UTC day, oldest first (percent as 0 to 100), drawn with uPlot


@dataclass(frozen=True)
class KpiBoard:
    tiles: list[KpiTile]
    orders_30_days: int
    computed_at: datetime
    took_seconds: float


def within(facts: Facts, start: datetime, end: datetime) -> Facts:
    return Facts(
        orders=[o for o in facts.orders if start <= o.received_at < end],
        exceptions=[e for e in facts.exceptions if start <= e.raised_at < end],
        completions=[at for at in facts.completions if start <= at < end],
        actions=[a for a in facts.actions if start <= a.at < end],
    )


def daily(facts: Facts, first_day: datetime, days: int) -> list[Facts]:
    """The facts of each UTC day from `first_day`, in one pass over them."""

    def day(at: datetime) -> int | None:
        i = (at - first_day) // DAY
        return i if 0 <= i < days else None

    orders: list[list[OrderFacts]] = [[] for _ in range(days)]
    exceptions: list[list[ExceptionFacts]] = [[] for _ in range(days)]
    completions: list[list[datetime]] = [[] for _ in range(days)]
    actions: list[list[Action]] = [[] for _ in range(days)]
    for order in facts.orders:
        if (i := day(order.received_at)) is not None:
            orders[i].append(order)
    for exception in facts.exceptions:
        if (i := day(exception.raised_at)) is not None:
            exceptions[i].append(exception)
    for at in facts.completions:
        if (i := day(at)) is not None:
            completions[i].append(at)
    for action in facts.actions:
        if (i := day(action.at)) is not None:
            actions[i].append(action)
    return [
        Facts(orders=orders[i], exceptions=exceptions[i], completions=completions[i], actions=actions[i])
        for i in range(days)
    ]


def board(facts: Facts, now: datetime) -> list[KpiTile]:
    """The tiles from the last 30 days' facts (pure: runs on a thread, off the event loop)."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    windows = [within(facts, today, now), within(facts, now - timedelta(days=7), now), facts]
    days = daily(facts, today - (DAYS - 1) * DAY, DAYS)
    computed = [(compute(f, now), f) for f in windows]
    per_day = [(compute(f, now), f) for f in days]
    tiles = []
    for key, unit, figure in TILES:
        scale = 100 if unit == "percent" else 1
        today_value, week, month = (figure(k, f) for k, f in computed)
        trend = [figure(k, f) for k, f in per_day]
        scaled = [round(v * scale, 2) if v is not None else None for v in trend]
        tiles.append(KpiTile(key, unit, today_value, week, month, scaled))
    return tiles


async def read_board(session: AsyncSession, channel: str | None, now: datetime) -> KpiBoard:
    began = time.monotonic()
    await session.connection(execution_options=READ_ONLY)
    facts = await kpis.facts(session, kpis.KpiFilter(now - timedelta(days=DAYS), now, channel))
    tiles = await asyncio.to_thread(board, facts, now)
    return KpiBoard(tiles, len(facts.orders), now, time.monotonic() - began)


@dataclass
class KpiMemory:
    """Each channel's tiles (None: every channel) while fresh; one computation per channel at a time."""

    fresh_seconds: float = FRESH_SECONDS
    clock: Callable[[], float] = time.monotonic
    _boards: dict[str | None, tuple[float, KpiBoard]] = field(default_factory=dict)
    _locks: dict[str | None, asyncio.Lock] = field(default_factory=dict)

    async def get(self, sessions: async_sessionmaker[AsyncSession], channel: str | None) -> KpiBoard:
        if (kept := self._fresh(channel)) is not None:
            return kept
        async with self._locks.setdefault(channel, asyncio.Lock()):
            if (kept := self._fresh(channel)) is not None:  # computed while this one waited
                return kept
            async with sessions() as session:
                made = await read_board(session, channel, datetime.now(UTC))
            fresh_for = max(self.fresh_seconds, FRESH_FACTOR * made.took_seconds)
            self._boards[channel] = (self.clock() + fresh_for, made)
            return made

    def _fresh(self, channel: str | None) -> KpiBoard | None:
        kept = self._boards.get(channel)
        return kept[1] if kept is not None and kept[0] > self.clock() else None
