"""The forecasting run's steps: collect demand, forecast and project a batch of SKUs, check deliveries.

Each step is idempotent: results replace the previous run's rows for the same SKUs; a stockout alert
is raised only if none is open for that SKU x warehouse, and cleared only if one is, so a retried
step raises and clears nothing twice. The number crunching runs on a thread, so the worker's event
loop keeps serving orders meanwhile.
"""

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from config import Settings
from domain.events import (
    ALERT_DELIVERY_AT_RISK,
    INVENTORY_STOCKOUT_CLEARED,
    INVENTORY_STOCKOUT_PREDICTED,
    BusinessEvent,
    event_id,
)
from domain.forecast import Forecast, ForecastParams, Pattern, forecast_many
from domain.foresight import (
    BatchForecasted,
    CheckDeliveries,
    CollectDemand,
    DeliveriesChecked,
    DemandCollected,
    ForecastBatch,
    PlanBatches,
    SkuRange,
)
from domain.projection import ArrivingStock, Outlook, StockPolicy, project
from domain.transit import Lane, OpenShipment, PastShipment, at_risk, lane_times
from store import events
from store import foresight as store
from store import inbound as inbound_store
from store.sql import insert_ignore
from store.tables import AlertRow, OrderRow, Shipment

log = structlog.get_logger(__name__)

DELIVERY_HISTORY_DAYS = 90
DELIVERY_WATCH_DAYS = 30
INTERMITTENT = (Pattern.INTERMITTENT, Pattern.LUMPY)


@dataclass(frozen=True)
class ForesightConfig:
    history_days: int = 180
    horizon_days: int = 28
    default_warehouse: str = "MAIN"
    lead_time_days: float = 7
    lead_time_days_by_warehouse: dict[str, float] | None = None
    lead_time_days_by_sku: dict[str, float] | None = None
    warning_hours: float = 48
    alert_confidence: float = 0.9
    intermittent_confidence: float = 0.55
    service_level: float = 0.95
    cover_days: float = 14

    @classmethod
    def from_settings(cls, settings: Settings) -> "ForesightConfig":
        return cls(
            history_days=settings.forecast_history_days,
            horizon_days=settings.forecast_horizon_days,
            default_warehouse=settings.default_warehouse,
            lead_time_days=settings.lead_time_days,
            lead_time_days_by_warehouse=dict(settings.lead_time_days_by_warehouse),
            lead_time_days_by_sku=dict(settings.lead_time_days_by_sku),
            warning_hours=settings.stockout_warning_hours,
            alert_confidence=settings.stockout_alert_confidence,
            intermittent_confidence=settings.stockout_intermittent_confidence,
            service_level=settings.replenishment_service_level,
            cover_days=settings.replenishment_cover_days,
        )

    def policy(self, sku: str, warehouse: str, lead_time_sd_days: float) -> StockPolicy:
        by_sku = self.lead_time_days_by_sku or {}
        by_warehouse = self.lead_time_days_by_warehouse or {}
        lead = by_sku.get(sku, by_warehouse.get(warehouse, self.lead_time_days))
        return StockPolicy(
            lead_time_days=lead,
            lead_time_sd_days=lead_time_sd_days,
            warning_hours=self.warning_hours,
            alert_confidence=self.alert_confidence,
            intermittent_alert_confidence=self.intermittent_confidence,
            service_level=self.service_level,
            target_cover_days=self.cover_days,
        )


@dataclass(frozen=True)
class _Computed:
    keys: list[tuple[str, str]]
    forecasts: list[Forecast]
    outlooks: list[Outlook]
    policies: list[StockPolicy]


class ForesightActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], config: ForesightConfig) -> None:
        self._sessions = sessions
        self._config = config

    @activity.defn(name="collect_demand")
    async def collect_demand(self, req: CollectDemand) -> DemandCollected:
        async with self._sessions.begin() as s:
            days = await store.collect_demand(
                s, date.fromisoformat(req.today), self._config.history_days, self._config.default_warehouse
            )
        return DemandCollected(days)

    @activity.defn(name="plan_forecast_batches")
    async def plan_forecast_batches(self, req: PlanBatches) -> list[SkuRange]:
        async with self._sessions.begin() as s:
            skus = await store.series_skus(s)
        size = max(req.batch_skus, 1)
        return [
            SkuRange(chunk[0], chunk[-1], len(chunk))
            for chunk in (skus[i : i + size] for i in range(0, len(skus), size))
        ]

    @activity.defn(name="forecast_batch")
    async def forecast_batch(self, req: ForecastBatch) -> BatchForecasted:
        config = self._config
        now = req.run_at
        today = now.date()
        first_day = today - timedelta(days=config.history_days)
        async with self._sessions.begin() as s:
            inputs = await store.series_inputs(s, req.first_sku, req.last_sku, first_day, config.history_days)
            expected = await inbound_store.expected_for(s, sorted({sku for sku, _ in inputs.keys}))
            spread = await inbound_store.lead_time_spread(s)
            opened = await store.open_alerts(s, req.first_sku, req.last_sku)
        if not inputs.keys:
            return BatchForecasted(0, 0, 0, 0, 0)
        arriving: dict[tuple[str, str], list[ArrivingStock]] = {}
        for e in expected:
            arriving.setdefault((e.sku, e.warehouse), []).append(ArrivingStock(e.expected_at, e.outstanding))
        available = [
            a - (inputs.backordered.get(sku, (0, 0))[0] if warehouse == config.default_warehouse else 0)
            for (sku, warehouse), a in zip(inputs.keys, inputs.available, strict=True)
        ]
        computed = await asyncio.to_thread(
            self._compute, now, inputs.keys, inputs.history, available, arriving, spread, opened, first_day
        )
        return await self._write(req, computed, inputs, arriving, opened, today)

    def _compute(
        self,
        now: datetime,
        keys: list[tuple[str, str]],
        history: Any,
        available: list[int],
        arriving: dict[tuple[str, str], list[ArrivingStock]],
        spread: dict[str, tuple[float, float, int]],
        opened: dict[tuple[str, str], Any],
        first_day: date,
    ) -> _Computed:
        matrix = np.asarray(history, dtype=np.float64)
        forecasts = forecast_many(matrix, first_day.weekday(), ForecastParams(horizon_days=self._config.horizon_days))
        # A spread of lead times is known once a warehouse has three inbound received in full.
        policies = [
            self._config.policy(sku, wh, spread[wh][1] if wh in spread and spread[wh][2] >= 3 else 0.0)
            for sku, wh in keys
        ]
        outlooks = project(
            now,
            available,
            np.array([f.daily for f in forecasts]),
            np.array([f.sigma for f in forecasts]),
            [arriving.get(k, []) for k in keys],
            policies,
            [f.pattern in INTERMITTENT for f in forecasts],
            [k in opened for k in keys],
            matrix,
        )
        return _Computed(keys, forecasts, outlooks, policies)

    async def _write(
        self,
        req: ForecastBatch,
        c: _Computed,
        inputs: store.SeriesInputs,
        arriving: dict[tuple[str, str], list[ArrivingStock]],
        opened: dict[tuple[str, str], Any],
        today: date,
    ) -> BatchForecasted:
        now = req.run_at
        forecast_rows, projection_rows = [], []
        raised: list[dict[str, Any]] = []
        cleared: list[str] = []
        notices: list[BusinessEvent] = []
        async with self._sessions.begin() as s:
            for (sku, warehouse), f, o, policy in zip(c.keys, c.forecasts, c.outlooks, c.policies, strict=True):
                waiting = inputs.backordered.get(sku, (0, 0)) if warehouse == self._config.default_warehouse else (0, 0)
                forecast_rows.append(
                    {
                        "sku": sku,
                        "warehouse": warehouse,
                        "pattern": f.pattern.value,
                        "method": f.method.value,
                        "first_day": today,
                        "daily": list(f.daily),
                        "sigma": round(f.sigma, 4),
                        "mae": round(f.mae, 4),
                        "bias": round(f.bias, 4),
                        "adi": round(f.adi, 4),
                        "cv2": round(f.cv2, 4),
                        "history_days": f.history_days,
                        "computed_at": now,
                    }
                )
                inbound = sorted(arriving.get((sku, warehouse), []), key=lambda a: a.at)
                projection_rows.append(
                    {
                        "sku": sku,
                        "warehouse": warehouse,
                        "available": o.available,
                        "backordered": waiting[0],
                        "inbound": sum(a.quantity for a in inbound),
                        "next_inbound_at": inbound[0].at if inbound else None,
                        "stockout_at": o.stockout_at,
                        "sure_stockout_at": o.sure_stockout_at,
                        "at_risk": o.at_risk,
                        "open_orders": waiting[1],
                        "lead_time_days": policy.lead_time_days,
                        "lead_time_sd_days": round(policy.lead_time_sd_days, 3),
                        "lead_time_demand": o.lead_time_demand,
                        "safety_stock": o.safety_stock,
                        "reorder_point": o.reorder_point,
                        "suggested_quantity": o.suggested_quantity,
                        "computed_at": now,
                    }
                )
                alert = opened.get((sku, warehouse))
                if o.at_risk and alert is None:
                    row, event = self._alert(sku, warehouse, f, o, policy, inbound, waiting, now)
                    raised.append(row)
                    notices.append(event)
                elif not o.at_risk and alert is not None:
                    data = {"alert_id": alert.alert_id, "sku": sku, "warehouse": warehouse, "order_id": ""}
                    cleared.append(alert.alert_id)
                    notices.append(
                        BusinessEvent(
                            event_id("stock_alert", alert.alert_id, "cleared"),
                            INVENTORY_STOCKOUT_CLEARED,
                            "",
                            now,
                            data,
                        )
                    )
            await store.replace_results(s, req.first_sku, req.last_sku, forecast_rows, projection_rows)
            await store.record_alerts(s, raised, cleared, now, notices)
        if raised:
            log.info("stockouts predicted", alerts=len(raised), first_sku=req.first_sku, last_sku=req.last_sku)
        return BatchForecasted(
            series=len(c.keys),
            at_risk=sum(o.at_risk for o in c.outlooks),
            raised=len(raised),
            cleared=len(cleared),
            to_reorder=sum(o.suggested_quantity > 0 for o in c.outlooks),
        )

    def _alert(
        self,
        sku: str,
        warehouse: str,
        f: Forecast,
        o: Outlook,
        policy: StockPolicy,
        inbound: list[ArrivingStock],
        waiting: tuple[int, int],
        now: datetime,
    ) -> tuple[dict[str, Any], BusinessEvent]:
        alert_id = f"stockout-{warehouse}-{sku}-{now:%Y%m%dT%H%M}"
        when = o.stockout_at or o.sure_stockout_at
        next_in = f"; next inbound {inbound[0].quantity} on {inbound[0].at:%a %d %b %H:%M}" if inbound else ""
        message = (
            f"at today's pace {sku} runs out in {warehouse} {f'on {when:%a %d %b %H:%M} UTC' if when else 'soon'}"
            f"{next_in}; {waiting[1]} open orders wait for it"
            f"{f'; reorder {o.suggested_quantity} now' if o.suggested_quantity else ''}"
        )
        window_days = int(policy.lead_time_days + policy.warning_hours / 24) + 1
        detail: dict[str, Any] = {
            "forecast_per_day": list(f.daily[:window_days]),
            "method": f.method.value,
            "pattern": f.pattern.value,
            "mae": round(f.mae, 3),
            "bias": round(f.bias, 3),
            "available": o.available,
            "inbound": [{"expected_at": a.at.isoformat(), "quantity": a.quantity} for a in inbound],
            "lead_time_days": policy.lead_time_days,
            "warning_hours": policy.warning_hours,
            "stockout_at": o.stockout_at.isoformat() if o.stockout_at else None,
            "sure_stockout_at": o.sure_stockout_at.isoformat() if o.sure_stockout_at else None,
            "stockout_chance": o.stockout_chance,
            "open_orders": waiting[1],
            "backordered": waiting[0],
            "suggested_quantity": o.suggested_quantity,
        }
        data = {"alert_id": alert_id, "sku": sku, "warehouse": warehouse, "message": message, "order_id": "", **detail}
        event = BusinessEvent(event_id("stock_alert", alert_id), INVENTORY_STOCKOUT_PREDICTED, "", now, data)
        row = {
            "alert_id": alert_id,
            "kind": store.STOCKOUT_PREDICTED,
            "warehouse": warehouse,
            "sku": sku,
            "message": message,
            "detail": detail,
            "raised_at": now,
            "cleared_at": None,
        }
        return row, event

    @activity.defn(name="check_deliveries")
    async def check_deliveries(self, req: CheckDeliveries) -> DeliveriesChecked:
        """Parcels slower than their lane's p90 raise `delivery_at_risk` for their order, once per leg."""
        now = req.now
        async with self._sessions.begin() as s:
            rows = await s.execute(
                select(
                    Shipment.shipment_id,
                    Shipment.order_id,
                    Shipment.carrier,
                    OrderRow.ship_to,
                    Shipment.shipped_at,
                    Shipment.handed_over_at,
                    Shipment.delivered_at,
                )
                .join(OrderRow, OrderRow.order_id == Shipment.order_id)
                .where(Shipment.shipped_at >= now - timedelta(days=DELIVERY_HISTORY_DAYS))
            )
            history, watching = [], []
            for shipment_id, order_id, carrier, ship_to, shipped, handed, delivered in rows.all():
                lane = Lane(carrier, str((ship_to or {}).get("country", "")))
                if delivered is not None:
                    history.append(PastShipment(lane, shipped, handed, delivered))
                elif shipped >= now - timedelta(days=DELIVERY_WATCH_DAYS):
                    watching.append(OpenShipment(shipment_id, order_id, lane, shipped, handed))
            risks = at_risk(watching, lane_times(history), now)
            alerts: list[dict[str, Any]] = [
                {
                    "alert_id": f"{r.shipment_id}:delivery_at_risk:{r.leg}",
                    "kind": "delivery_at_risk",
                    "order_id": r.order_id,
                    "exception_id": None,
                    "level": 0,
                    "message": f"shipment {r.shipment_id}: {r.message}",
                    "raised_at": now,
                }
                for r in risks
            ]
            raised = await insert_ignore(s, AlertRow.__table__, alerts, on=["alert_id"])  # type: ignore[arg-type]
            await events.record(
                s,
                [
                    BusinessEvent(
                        event_id("alert", a["alert_id"]),
                        ALERT_DELIVERY_AT_RISK,
                        a["order_id"],
                        now,
                        {"alert_id": a["alert_id"], "order_id": a["order_id"], "message": a["message"]},
                    )
                    for a in alerts
                ],
            )
        return DeliveriesChecked(open_shipments=len(watching), at_risk=len(risks), raised=raised)
