"""What crosses Temporal in a forecasting run (docs/foresight.md). Standard library only: the workflow
imports this, never the numpy modules."""

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ForecastRun:
    """The Schedule's argument; empty values take the worker's settings."""

    batch_skus: int = 0
    parallel: int = 2


@dataclass(frozen=True)
class CollectDemand:
    today: str  # ISO date: days before it are whole


@dataclass(frozen=True)
class DemandCollected:
    days: int


@dataclass(frozen=True)
class PlanBatches:
    batch_skus: int


@dataclass(frozen=True)
class SkuRange:
    first_sku: str
    last_sku: str
    skus: int


@dataclass(frozen=True)
class ForecastBatch:
    run_at: datetime
    first_sku: str
    last_sku: str


@dataclass(frozen=True)
class BatchForecasted:
    series: int
    at_risk: int
    raised: int
    cleared: int
    to_reorder: int


@dataclass(frozen=True)
class CheckDeliveries:
    now: datetime


@dataclass(frozen=True)
class DeliveriesChecked:
    open_shipments: int
    at_risk: int
    raised: int


@dataclass(frozen=True)
class ForecastSummary:
    batches: int
    series: int
    at_risk: int
    raised: int
    cleared: int
    to_reorder: int
    deliveries_at_risk: int
    demand_days_collected: int
    batch_results: list[BatchForecasted] = field(default_factory=list)
