"""The forecasting run: a Temporal Schedule starts one every hour (docs/foresight.md).

Demand of the days now whole is collected, the SKUs are cut into batches (ranges of SKU codes), each
batch is forecast and projected as one activity, a few at a time, and then parcels are checked
against their lanes' usual transit times. The run's time is the workflow's, so a retried batch
projects from the same moment."""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.foresight import ForesightActivities
    from domain.contract import WorkflowType
    from domain.foresight import (
        BatchForecasted,
        CheckDeliveries,
        CollectDemand,
        ForecastBatch,
        ForecastRun,
        ForecastSummary,
        PlanBatches,
    )

STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1), maximum_attempts=5
)
DEFAULT_BATCH_SKUS = 2000


@workflow.defn(name=WorkflowType.FORECAST)
class ForecastWorkflow:
    @workflow.run
    async def run(self, req: ForecastRun) -> ForecastSummary:
        now = workflow.now()
        collected = await workflow.execute_activity_method(
            ForesightActivities.collect_demand,
            CollectDemand(now.date().isoformat()),
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=STEP_RETRY,
        )
        batches = await workflow.execute_activity_method(
            ForesightActivities.plan_forecast_batches,
            PlanBatches(req.batch_skus or DEFAULT_BATCH_SKUS),
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=STEP_RETRY,
        )
        results: list[BatchForecasted] = []
        parallel = max(req.parallel, 1)
        for start in range(0, len(batches), parallel):
            results += await asyncio.gather(
                *(
                    workflow.execute_activity_method(
                        ForesightActivities.forecast_batch,
                        ForecastBatch(now, b.first_sku, b.last_sku),
                        start_to_close_timeout=timedelta(minutes=5),
                        retry_policy=STEP_RETRY,
                    )
                    for b in batches[start : start + parallel]
                )
            )
        deliveries = await workflow.execute_activity_method(
            ForesightActivities.check_deliveries,
            CheckDeliveries(now),
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=STEP_RETRY,
        )
        return ForecastSummary(
            batches=len(batches),
            series=sum(r.series for r in results),
            at_risk=sum(r.at_risk for r in results),
            raised=sum(r.raised for r in results),
            cleared=sum(r.cleared for r in results),
            to_reorder=sum(r.to_reorder for r in results),
            deliveries_at_risk=deliveries.at_risk,
            demand_days_collected=collected.days,
            batch_results=results,
        )
