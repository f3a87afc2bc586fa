"""Retention: started by a Temporal Schedule (worker.py), prunes each table in turn until nothing old
is left. The pruning itself is an activity; this only sequences tables and repeats a table whose
activity stopped at its time budget."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.retention import RetentionActivities
    from domain.contract import WorkflowType
    from domain.retention import Pruned, RetentionPlan

PRUNE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=5))
# Calls per run before the history is started afresh (continue-as-new).
MAX_CALLS = 500


@workflow.defn(name=WorkflowType.RETENTION)
class RetentionWorkflow:
    @workflow.run
    async def run(self, plan: RetentionPlan) -> list[Pruned]:
        done: list[Pruned] = []
        calls = 0
        for i, table in enumerate(plan.tables):
            while True:
                pruned = await workflow.execute_activity_method(
                    RetentionActivities.prune_table,
                    table,
                    start_to_close_timeout=timedelta(minutes=5),
                    heartbeat_timeout=timedelta(minutes=1),
                    retry_policy=PRUNE_RETRY,
                )
                done.append(pruned)
                calls += 1
                if not pruned.more:
                    break
                if calls >= MAX_CALLS:
                    workflow.continue_as_new(RetentionPlan(plan.tables[i:]))
        return done
