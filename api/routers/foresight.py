"""Forecasts, projected stock, stockout alerts and replenishment suggestions (docs/foresight.md).

The forecasting run writes these; the routes read them. A person turns a suggestion into inbound
with one call, and may start a run now instead of waiting for the Schedule."""

import csv
import io
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response

from api.access import Operator, require
from api.deps import SessionDep, SettingsDep, TemporalDep
from api.foresight_schemas import ForecastOut, InboundOut, ProjectionOut, ReorderIn, StockAlertOut
from api.problems import Problem, ProblemError, invalid
from api.routers.inbound import Purchaser, check_lines, create_inbound, inbound_out, tell_waiting_orders
from domain.foresight import ForecastRun
from domain.orders import InvalidField
from domain.steps import StockLine
from gateway import starts
from store import foresight as store
from store.sql import utcnow
from store.tables import ProjectionRow

router = APIRouter(tags=["foresight"])

SkuQuery = Annotated[str | None, Query(max_length=64)]
WarehouseQuery = Annotated[str | None, Query(max_length=32)]
Limit = Annotated[int, Query(ge=1, le=10_000)]
RESPONSES: dict[int | str, dict[str, Any]] = {404: {"model": Problem}, 409: {"model": Problem}, 422: {"model": Problem}}
CSV_COLUMNS = (
    "sku",
    "warehouse",
    "available",
    "backordered",
    "inbound",
    "lead_time_days",
    "lead_time_demand",
    "safety_stock",
    "reorder_point",
    "suggested_quantity",
    "stockout_at",
    "at_risk",
)


def projection_out(p: ProjectionRow) -> ProjectionOut:
    return ProjectionOut.model_validate(p, from_attributes=True)


@router.get("/v1/forecasts")
async def list_forecasts(
    _: Operator, session: SessionDep, sku: SkuQuery = None, warehouse: WarehouseQuery = None, limit: Limit = 500
) -> list[ForecastOut]:
    """Each SKU x warehouse's forecast of daily demand, its method and its backtest error."""
    return [
        ForecastOut.model_validate(f, from_attributes=True)
        for f in await store.forecasts(session, sku, warehouse, limit)
    ]


@router.get("/v1/stock/projections")
async def list_projections(
    _: Operator,
    session: SessionDep,
    at_risk: bool | None = None,
    sku: SkuQuery = None,
    warehouse: WarehouseQuery = None,
    limit: Limit = 500,
) -> list[ProjectionOut]:
    """Projected stock: soonest stockout first. `at_risk=true`: those with a stockout warning."""
    return [projection_out(p) for p in await store.projections(session, at_risk, False, sku, warehouse, limit)]


@router.get("/v1/stock/alerts")
async def list_stock_alerts(
    _: Operator, session: SessionDep, open: bool = True, limit: Limit = 500
) -> list[StockAlertOut]:
    """`stockout_predicted` alerts, newest first; `open=false` includes cleared ones."""
    return [StockAlertOut.model_validate(a, from_attributes=True) for a in await store.alerts(session, open, limit)]


@router.get("/v1/replenishment", responses={200: {"content": {"text/csv": {}}}})
async def replenishment(
    _: Operator,
    session: SessionDep,
    warehouse: WarehouseQuery = None,
    format: Literal["json", "csv"] = "json",
    limit: Limit = 10_000,
) -> Any:
    """SKUs at or below their reorder point, with the numbers behind each suggestion. `format=csv` for
    a spreadsheet."""
    rows = await store.projections(session, None, True, None, warehouse, limit)
    if format == "json":
        return [projection_out(p) for p in rows]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for p in rows:
        writer.writerow(["" if getattr(p, c) is None else getattr(p, c) for c in CSV_COLUMNS])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="replenishment.csv"'},
    )


@router.post("/v1/replenishment/reorder", status_code=201, responses={200: {"model": InboundOut}, **RESPONSES})
async def reorder(
    body: ReorderIn,
    caller: Purchaser,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    response: Response,
) -> InboundOut:
    """Turn a suggestion into inbound: the suggested quantity (or the one given), expected after the
    SKU's lead time (or when given). The same reference again answers 200 with the first."""
    await check_lines(session, body.warehouse, [body.sku])
    suggestion = await store.projection(session, body.sku, body.warehouse)
    if suggestion is None:
        raise invalid([InvalidField("sku", f"no forecast for {body.sku} in {body.warehouse} yet")])
    quantity = body.quantity or suggestion.suggested_quantity
    if quantity <= 0:
        raise ProblemError(
            409, "Nothing to reorder", f"{body.sku} in {body.warehouse} is above its reorder point; give a quantity"
        )
    expected_at = body.expected_at or utcnow() + timedelta(days=suggestion.lead_time_days)
    inbound, created = await create_inbound(
        session,
        body.warehouse,
        body.reference,
        expected_at,
        [StockLine(body.sku, quantity)],
        "suggestion",
        caller.actor,
    )
    await tell_waiting_orders(session, temporal, settings, inbound)
    if not created:
        response.status_code = 200
    response.headers["Location"] = f"/v1/inbound/{inbound.row.inbound_id}"
    return inbound_out(inbound)


@router.post("/v1/forecasts/runs", status_code=202, dependencies=[Depends(require())])
async def run_forecast_now(temporal: TemporalDep, settings: SettingsDep) -> dict[str, str]:
    """Start a forecasting run now (the Schedule starts one every hour). Admin only."""
    run = ForecastRun(batch_skus=settings.forecast_batch_skus)
    run_at = utcnow().strftime("%Y%m%dT%H%M%S%f")
    return {"workflow_id": await starts.start_forecast(temporal, settings.task_queue, run, run_at)}
