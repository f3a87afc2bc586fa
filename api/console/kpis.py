"""The dashboard's KPI tiles: today, the last 7 and the last 30 days, and a 30-day trend of each, from the
code GET /v1/kpis runs (store/kpi_read.py reads the rollup, domain/kpis.py defines the figures).

The tiles are a fragment of their own, loaded after the page and polled once a minute; each API process
keeps the tiles of each channel for a minute or five times as long as reading them took, whichever is
longer; one reading per channel at a time.
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.kpis import Kpis, Point
from store import kpi_read, kpis
from store.db import READ_ONLY

DAYS = 30
FRESH_SECONDS = 60.0
FRESH_FACTOR = 5  # keep the tiles five times as long as they took


def _touchless(p: Point) -> float | None:
    return 1 - p.manual_intervention_rate if p.manual_intervention_rate is not None else None


def _per_person(p: Point) -> float | None:
    return p.completed / p.people if p.people else None


def _first_action(k: Kpis) -> float | None:
    """Hours from an exception being raised to a person's first action, median over every kind."""
    return k.exception_response_all.to_first_action.p50 if k.exception_response_all else None


# (catalogue key kpi.<key>, unit, the figure of a window, the figure of a day of the trend: None where the
# series does not carry it)
TILES: tuple[tuple[str, str, Callable[[Kpis], float | None], Callable[[Point], float | None] | None], ...] = (
    ("cycle_time", "hours", lambda k: k.cycle_time.to_shipped.p50, lambda p: p.shipped_p50_hours),
    ("touchless", "percent", lambda k: k.touchless.rate, _touchless),
    ("error_rate", "percent", lambda k: k.errors.rate, lambda p: p.error_rate),
    ("orders_per_person_day", "number", lambda k: k.throughput.orders_per_person_per_day, _per_person),
    ("exception_response", "hours", _first_action, None),
    ("on_time", "percent", lambda k: k.on_time_ship.rate, lambda p: p.on_time_ship_rate),
    ("warning_lead", "hours", lambda k: k.early_warning.lead_p50, None),
)


@dataclass(frozen=True)
class KpiTile:
    key: str  # message catalogue key of the tile's name: kpi.<key>
    unit: str  # hours | percent | number: how the template formats the figures
    today: float | None
    last_7_days: float | None
    last_30_days: float | None
    trend: list[float | None]  # one point per UTC day, oldest first (percent as 0 to 100); [] none kept


@dataclass(frozen=True)
class KpiBoard:
    tiles: list[KpiTile]
    orders_30_days: int
    computed_at: datetime
    took_seconds: float


def board(today: Kpis, week: Kpis, month: Kpis, days: list[Point]) -> list[KpiTile]:
    """The tiles from the three windows' figures and the last 30 days' daily series."""
    tiles = []
    for key, unit, figure, daily in TILES:
        scale = 100 if unit == "percent" else 1
        trend = [daily(p) for p in days[-DAYS:]] if daily else []
        scaled = [round(v * scale, 2) if v is not None else None for v in trend]
        tiles.append(KpiTile(key, unit, figure(today), figure(week), figure(month), scaled))
    return tiles


async def read_board(session: AsyncSession, channel: str | None, now: datetime) -> KpiBoard:
    began = time.monotonic()
    await session.connection(execution_options=READ_ONLY)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    # The month starts at a midnight so that its series has one point per whole UTC day.
    windows = (midnight, now - timedelta(days=7), midnight - timedelta(days=DAYS - 1))
    (today, _), (week, _), (month, days) = [
        await kpi_read.kpi_report(session, kpis.KpiFilter(start, now, channel), now) for start in windows
    ]
    return KpiBoard(board(today, week, month, days), month.orders, now, time.monotonic() - began)


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
