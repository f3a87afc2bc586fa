"""Bare five-activity workflows on the same server and worker settings as orderflow."""

import time
from collections import Counter
from typing import Any

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy

from bench.load import FLOOR_QUEUE, poll_until, run_clients, wait_for_pollers
from bench.measure import history_shape, latency_ms, memory, time_split_of
from bench.stack import CpuWindow, Stack


async def floor_phase(
    stack: Stack, client: Client, workflow_name: str, count: int, clients: int, run_id: str, worker_count: int
) -> dict[str, Any]:
    names = ["floor worker", *(f"floor worker {k}" for k in range(2, worker_count + 1))]
    workers = {name: stack.start_floor_worker(name, FLOOR_QUEUE) for name in names}
    await wait_for_pollers(client, FLOOR_QUEUE)
    cpu = CpuWindow({"temporal server": stack.processes["temporal server"], **workers}, stack.uses_postgres)
    started_at: dict[str, float] = {}
    start_latency: list[float] = []

    async def one(i: int) -> None:
        workflow_id = f"{workflow_name}-{run_id}-{i:06d}"
        started_at[workflow_id] = time.time()
        t0 = time.perf_counter()
        await client.start_workflow(
            workflow_name,
            workflow_id,
            id=workflow_id,
            task_queue=FLOOR_QUEUE,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
        start_latency.append(time.perf_counter() - t0)

    query = f'WorkflowType="{workflow_name}" AND WorkflowId STARTS_WITH "{workflow_name}-{run_id}-"'

    async def all_closed() -> bool:
        return (await client.count_workflows(query + ' AND ExecutionStatus!="Running"')).count >= count

    cpu.start()
    await run_clients(count, clients, one)
    await poll_until(f"{count} {workflow_name} workflows closing", all_closed, within=60 + count)
    cpu.stop()
    peak = memory(cpu.processes)

    closed: dict[str, float] = {}
    statuses: Counter[str] = Counter()
    async for execution in client.list_workflows(query):
        statuses[execution.status.name if execution.status else "UNKNOWN"] += 1
        if execution.close_time is not None:
            closed[execution.id] = execution.close_time.timestamp()
    sample = next(iter(started_at))
    shape = history_shape((await client.get_workflow_handle(sample).fetch_history()).events)
    split = await time_split_of(client, sorted(started_at))
    for name in workers:
        stack.stop(name)
    wall = max(closed.values()) - min(started_at.values())
    return {
        "workflow": workflow_name,
        "count": count,
        "clients": clients,
        "statuses": dict(statuses),
        "wall_seconds": round(wall, 2),
        "per_second": round(count / wall, 2),
        "start_latency_ms": latency_ms(start_latency),
        "start_to_close_ms": latency_ms([closed[k] - started_at[k] for k in closed]),
        "cpu": cpu.report(),
        "cpu_ms_per_workflow": cpu.per_item_ms(count),
        "memory": peak,
        "history": shape,
        "time_split_ms": split,
    }
