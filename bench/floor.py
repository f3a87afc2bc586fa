"""The floor: a bare workflow of five no-op steps, run by a worker with orderflow's worker settings.

Defined here and not in `__main__`: the workflow sandbox re-imports the module that defines a workflow.
"""

import asyncio
import json
import os
import signal
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import PollerBehaviorAutoscaling, PollerBehaviorSimpleMaximum, Worker

FLOOR_WORKFLOW = "BenchFloor"
FLOOR_LOCAL_WORKFLOW = "BenchFloorLocal"
# Started by the bare submit endpoint on a queue nobody polls: it measures the start and nothing else.
START_ONLY_WORKFLOW = "BenchStartOnly"
STEPS = 5
STEP_TIMEOUT = timedelta(seconds=15)


@activity.defn(name="bench_noop")
async def noop(step: int) -> int:
    return step


@workflow.defn(name=FLOOR_WORKFLOW)
class FloorWorkflow:
    @workflow.run
    async def run(self, label: str) -> str:
        for step in range(STEPS):
            await workflow.execute_activity(noop, step, start_to_close_timeout=STEP_TIMEOUT)
        return label


@workflow.defn(name=FLOOR_LOCAL_WORKFLOW)
class FloorLocalWorkflow:
    @workflow.run
    async def run(self, label: str) -> str:
        for step in range(STEPS):
            await workflow.execute_local_activity(noop, step, start_to_close_timeout=STEP_TIMEOUT)
        return label


def _option(value: str) -> Any:
    if value == "autoscaling":
        return PollerBehaviorAutoscaling()
    if value.startswith("max:"):
        return PollerBehaviorSimpleMaximum(int(value.removeprefix("max:")))
    if value in ("true", "false"):
        return value == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def worker_overrides() -> dict[str, Any]:
    """Worker keyword arguments from $BENCH_WORKER_OPTIONS (`--worker-option`), for what-if runs:
    "7" is an int, "true" a bool, "autoscaling" and "max:10" poller behaviours."""
    raw: dict[str, str] = json.loads(os.environ.get("BENCH_WORKER_OPTIONS") or "{}")
    return {key: _option(value) for key, value in raw.items()}


def with_overrides(make: Callable[..., Worker]) -> Callable[..., Worker]:
    overrides = worker_overrides()

    def build(*args: Any, **kwargs: Any) -> Worker:
        return make(*args, **{**kwargs, **overrides})

    return build


def build_worker(client: Client, task_queue: str) -> Worker:
    from worker import STEPS_AT_ONCE  # not at the top: the sandbox re-imports this module per workflow

    # The same knobs as worker.build_worker, so the floor differs from orderflow only in the work done.
    return with_overrides(Worker)(
        client,
        task_queue=task_queue,
        workflows=[FloorWorkflow, FloorLocalWorkflow],
        activities=[noop],
        max_concurrent_activities=50,
        max_concurrent_local_activities=STEPS_AT_ONCE,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


async def run(address: str, task_queue: str) -> None:
    client = await Client.connect(address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with build_worker(client, task_queue):
        await stop.wait()


def main() -> None:
    asyncio.run(run(os.environ["ORDERFLOW_TEMPORAL_ADDRESS"], os.environ["ORDERFLOW_TASK_QUEUE"]))
