"""Simulated time: the day runs `speed` times faster than the wall clock, from a fixed opening."""

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# The day rehearsed opens at 08:00 on a peak day; its date is fixed so reports of different runs compare.
OPENING = datetime(2026, 11, 11, 8, 0, tzinfo=UTC)


@dataclass
class Clock:
    speed: float
    real_start: float = 0.0  # time.time() when the day opened

    def open(self) -> None:
        self.real_start = time.time()

    def now_s(self) -> float:
        """Simulated seconds since the opening."""
        return (time.time() - self.real_start) * self.speed

    def real_s(self, sim_seconds: float) -> float:
        return sim_seconds / self.speed

    def sim(self, real: datetime) -> datetime:
        """Where a real instant falls in the simulated day."""
        return OPENING + timedelta(seconds=(real.timestamp() - self.real_start) * self.speed)

    def label(self, sim_seconds: float) -> str:
        return (OPENING + timedelta(seconds=sim_seconds)).strftime("%H:%M")

    async def until(self, sim_seconds: float) -> None:
        await asyncio.sleep(max(0.0, self.real_start + sim_seconds / self.speed - time.time()))

    async def wait(self, sim_seconds: float) -> None:
        await asyncio.sleep(max(0.0, sim_seconds / self.speed))
