"""The dashboard's KPI tiles: the slot the KPI module (issue 15) fills.

`kpi_tiles` is what the dashboard template's `kpi_tiles` block renders. It returns None while orderflow
has no KPI module, and the block then says the figures are not available — nothing is estimated here.
When the KPI API lands, this function calls its code (never a second computation) and returns the
tiles for today / 7 / 30 days with their trend series.
"""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from domain.access import Principal


@dataclass(frozen=True)
class KpiTile:
    key: str  # message catalogue key of the tile's name: kpi.<key>
    today: str
    last_7_days: str
    last_30_days: str
    trend: list[float]  # one point per day, oldest first, drawn with uPlot


async def kpi_tiles(session: AsyncSession, principal: Principal) -> list[KpiTile] | None:
    return None
