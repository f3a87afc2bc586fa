"""/v1/kpis: the figures operations are judged by, over a window, with their definitions."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from api.access import OrderReader
from api.deps import SessionsDep
from api.problems import Problem, ProblemError
from domain.access import Role
from domain.kpi_definitions import DEFINITIONS, Definition
from domain.kpis import Kpis, Point, bucket_size, compute, series
from domain.orders import CHANNEL_PATTERN, InvalidField
from domain.return_kpis import return_rate
from store import kpi_read, kpis, return_kpis
from store.db import READ_ONLY

router = APIRouter(tags=["kpis"])

DEFAULT_WINDOW = timedelta(days=30)
MAX_WINDOW = timedelta(days=366)


class Window(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: datetime
    end: datetime
    channel: str | None
    warehouse: str | None
    carrier: str | None
    bucket: str  # "hour" or "day"


class KpiReport(BaseModel):
    window: Window
    kpis: Kpis
    series: list[Point]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def window_of(start: datetime | None, end: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    end = _utc(end) if end else now
    start = _utc(start) if start else end - DEFAULT_WINDOW
    if start >= end:
        raise ProblemError(422, "Invalid request", "to: must be after from", [InvalidField("to", "must be after from")])
    if end - start > MAX_WINDOW:
        problem = InvalidField("to", f"a window is at most {MAX_WINDOW.days} days")
        raise ProblemError(422, "Invalid request", str(problem), [problem])
    return start, end


Code = Annotated[str | None, Query(min_length=1, max_length=64)]


@router.get("/v1/kpis", responses={403: {"model": Problem}, 422: {"model": Problem}})
async def get_kpis(
    caller: OrderReader,
    sessions: SessionsDep,
    start: Annotated[datetime | None, Query(alias="from", description="default: 30 days before `to`")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="default: now")] = None,
    channel: Annotated[str | None, Query(pattern=CHANNEL_PATTERN)] = None,
    warehouse: Code = None,
    carrier: Code = None,
) -> KpiReport:
    """KPIs of the orders received in [from, to), with a series per hour (windows up to 48 h) or per day."""
    if caller.role is Role.CHANNEL:
        if channel is not None and channel != caller.channel:
            problem = InvalidField("channel", "a channel key sees its own channel's figures only")
            raise ProblemError(403, "Forbidden", str(problem), [problem])
        channel = caller.channel
    now = datetime.now(UTC)
    start, end = window_of(start, end, now)
    window = kpis.KpiFilter(start, end, channel, warehouse, carrier)
    async with sessions() as session:
        await session.connection(execution_options=READ_ONLY)
        if warehouse or carrier:  # the rollup keeps channels only: these read every order of the window
            facts = await kpis.facts(session, window)
            figures, points = compute(facts, now), series(facts, start, end, now)
        else:
            figures, points = await kpi_read.kpi_report(session, window, now)
        shipped, returned = await return_kpis.facts(session, window)
    figures = replace(figures, returns=return_rate(shipped, returned))
    bucket = "hour" if bucket_size(start, end) == timedelta(hours=1) else "day"
    return KpiReport(
        window=Window(start=start, end=end, channel=channel, warehouse=warehouse, carrier=carrier, bucket=bucket),
        kpis=figures,
        series=points,
    )


@router.get("/v1/kpis/definitions")
async def get_definitions(_: OrderReader) -> list[Definition]:
    """What each figure of GET /v1/kpis means: formula, start and end, what counts, caveats."""
    return list(DEFINITIONS)
