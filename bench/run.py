"""`make bench` (`python -m bench`): start a private dev stack and measure, in one run,

1. floor         bare five-activity workflows on the same server and worker settings (and the same
                 with local activities);
2. submit        the bare start-only endpoint against the real POST /v1/orders, one client and many;
3. orderflow     real orders through the HTTP API, warehouse in auto mode, submission to `completed`;
4. parked        orders waiting for pick confirmation: worker memory and new-order latency.

Prints a summary and writes the same as JSON under bench/results/ for comparing runs.
"""

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy

from bench.floor import FLOOR_LOCAL_WORKFLOW, FLOOR_WORKFLOW
from bench.rules import archive_rules, compare, install_rules
from bench.stack import SERVER_SQLITE, CpuWindow, PostgresDatabase, Process, Stack, migrate_database
from config import Settings
from store.tables import Invoice, OrderRow, PickList, Shipment, Stock
from workflows.attributes import ORDER_WORKFLOW

HERE = Path(__file__).resolve().parent
WAREHOUSE = "MAIN"
STOCK = 10**9
ORDERS_QUEUE = "orders-bench"
FLOOR_QUEUE = "floor-bench"
UNPOLLED_QUEUE = "orders-unpolled"
# The submit comparison alternates bare and real in this many rounds.
SUBMIT_ROUNDS = 3
PHASES = ("floor", "local-floor", "submit", "orderflow", "parked")


@dataclass(frozen=True)
class Options:
    floor: int
    skip: frozenset[str]
    skus: int
    workers: int
    server_sqlite: str
    orders: int
    clients: int
    submit_requests: int
    submit_clients: int
    unloaded_requests: int
    parked: int
    probes: int
    postgres: bool
    profile: bool
    log_level: str
    out: Path | None
    keep: bool
    worker_options: dict[str, str]
    rules: int = 0


def parse_args(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--floor", type=int, default=200, help="bare workflows per floor run (default 200)")
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=PHASES,
        help="leave a phase out (repeatable): " + ", ".join(PHASES),
    )
    p.add_argument("--orders", type=int, default=200, help="orders end to end (default 200)")
    p.add_argument("--skus", type=int, default=20, help="products the orders spread over (default 20)")
    p.add_argument(
        "--workers",
        type=int,
        default=Settings().worker_count(),
        help="worker processes, floor and orderflow alike (default: as `make run`, one per core, at most 4)",
    )
    p.add_argument("--clients", type=int, default=8, help="concurrent clients submitting floor and orders (default 8)")
    p.add_argument("--submit-requests", type=int, default=900, help="requests per submit endpoint under load")
    p.add_argument("--submit-clients", type=int, default=32, help="concurrent clients for the submit comparison")
    p.add_argument("--unloaded-requests", type=int, default=150, help="one-client requests per submit endpoint")
    p.add_argument("--parked", type=int, default=500, help="orders left waiting for pick confirmation (0 skips)")
    p.add_argument("--probes", type=int, default=20, help="new orders timed before and after parking")
    p.add_argument(
        "--server-sqlite",
        choices=SERVER_SQLITE,
        default="wal-normal",
        help="what-if: the dev server's journaling (default wal-normal, as make run)",
    )
    p.add_argument(
        "--rules",
        type=int,
        default=0,
        help="also run orders end to end without and then with this many active business rules (e.g. 50; 0 skips)",
    )
    p.add_argument("--postgres", action="store_true", help="orderflow's database on PostgreSQL at 127.0.0.1:5432")
    p.add_argument("--profile", action="store_true", help="py-spy the worker and API during the orderflow run")
    p.add_argument("--log-level", default="INFO", help="ORDERFLOW_LOG_LEVEL of worker and API (default INFO)")
    p.add_argument("--out", type=Path, help="JSON file to write (default bench/results/<time>-<db>.json)")
    p.add_argument("--keep", action="store_true", help="keep the run's temp dir (logs, databases)")
    p.add_argument(
        "--worker-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="what-if: a temporalio Worker argument for both the floor and orderflow workers, e.g.\n"
        "max_concurrent_workflow_task_polls=10, workflow_task_poller_behavior=autoscaling",
    )
    a = p.parse_args(argv)
    return Options(
        floor=a.floor,
        skus=a.skus,
        workers=a.workers,
        server_sqlite=a.server_sqlite,
        skip=frozenset(a.skip) | ({"parked"} if a.parked <= 0 else set()),
        orders=a.orders,
        clients=a.clients,
        submit_requests=a.submit_requests,
        submit_clients=a.submit_clients,
        unloaded_requests=a.unloaded_requests,
        parked=a.parked,
        probes=a.probes,
        postgres=a.postgres,
        profile=a.profile,
        log_level=a.log_level,
        out=a.out,
        keep=a.keep,
        worker_options=dict(option.split("=", 1) for option in a.worker_option),
        rules=a.rules,
    )


# ---------------------------------------------------------------------------------------------- figures


def percentile(values: list[float], p: float) -> float:
    """Nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def latency_ms(values_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    return {
        "n": len(ms),
        "p50": round(percentile(ms, 50), 1),
        "p95": round(percentile(ms, 95), 1),
        "p99": round(percentile(ms, 99), 1),
        "max": round(max(ms), 1) if ms else float("nan"),
    }


def memory(processes: dict[str, Process]) -> dict[str, dict[str, float]]:
    return {
        name: {"peak_rss_mib": round(p.peak_rss_mib(), 1), "rss_mib": round(p.rss_mib(), 1)}
        for name, p in processes.items()
        if p.alive()
    }


# ---------------------------------------------------------------------------------------------- load


async def run_clients(count: int, clients: int, call: Callable[[int], Awaitable[None]]) -> float:
    """`call(i)` for i in range(count) from `clients` concurrent loops; returns the wall time taken."""
    counter = iter(range(count))
    started = time.monotonic()

    async def loop() -> None:
        for i in counter:
            await call(i)

    await asyncio.gather(*(loop() for _ in range(max(1, min(clients, count)))))
    return time.monotonic() - started


def catalog(size: int) -> tuple[str, ...]:
    return tuple(f"BENCH-{k:03d}" for k in range(size))


def order_lines(i: int, skus: Sequence[str]) -> dict[str, int]:
    """Order i's lines: two neighbouring SKUs, so orders spread over the catalog as evenly as they can."""
    lines = Counter({skus[i % len(skus)]: 2})
    lines[skus[(i + 1) % len(skus)]] += 1
    return dict(lines)


def order_body(channel: str, external_id: str, i: int, skus: Sequence[str]) -> dict[str, Any]:
    return {
        "channel": channel,
        "external_id": external_id,
        "customer": {"id": "C-42", "name": "Li Wei", "email": "li.wei@example.com"},
        "ship_to": {
            "name": "Li Wei",
            "line1": "88 Century Ave",
            "city": "Shanghai",
            "postal_code": "200120",
            "country": "CN",
        },
        "lines": [
            {"sku": sku, "quantity": quantity, "unit_price": "49.00"} for sku, quantity in order_lines(i, skus).items()
        ],
        "currency": "CNY",
    }


class Submitter:
    """POSTs to the API, timing each round trip; any answer but the expected one is counted."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.latencies: list[float] = []
        self.submitted_at: dict[str, float] = {}
        self.statuses: Counter[int] = Counter()

    async def post(self, path: str, body: dict[str, Any], key: str) -> None:
        wall = time.time()
        started = time.perf_counter()
        try:
            response = await self.http.post(path, json=body)
            status = response.status_code
        except httpx.HTTPError:
            status = 0
        self.latencies.append(time.perf_counter() - started)
        self.statuses[status] += 1
        self.submitted_at[key] = wall

    def figures(self, wall: float) -> dict[str, Any]:
        return {
            "requests": len(self.latencies),
            "wall_seconds": round(wall, 2),
            "per_second": round(len(self.latencies) / wall, 1) if wall else 0.0,
            "latency_ms": latency_ms(self.latencies),
            "http_status": {str(k): v for k, v in sorted(self.statuses.items())},
        }


async def submit_orders(
    submitter: Submitter, channel: str, count: int, clients: int, run_id: str, skus: Sequence[str]
) -> float:
    async def one(i: int) -> None:
        external_id = f"{run_id}-{i:06d}"
        await submitter.post("/v1/orders", order_body(channel, external_id, i, skus), f"{channel}-{external_id}")

    return await run_clients(count, clients, one)


async def start_only(submitter: Submitter, count: int, clients: int, run_id: str) -> float:
    async def one(i: int) -> None:
        key = f"{run_id}-{i:06d}"
        await submitter.post("/bench/start-only", {"id": key}, key)

    return await run_clients(count, clients, one)


async def seed_catalog(http: httpx.AsyncClient, skus: Sequence[str]) -> None:
    for sku in skus:
        (await http.put(f"/v1/products/{sku}", json={"name": sku, "unit_price": "10.00"})).raise_for_status()
        # The API commits after it has answered (the session dependency closes after the response), so the
        # product can still be invisible to the next request: seen as a 404 here now and then.
        for _ in range(50):
            response = await http.put(f"/v1/inventory/{WAREHOUSE}/{sku}", json={"on_hand": STOCK})
            if response.status_code != 404:
                break
            await asyncio.sleep(0.05)
        response.raise_for_status()


async def seed(stack: Stack, skus: Sequence[str]) -> None:
    """Products and plenty of stock, through the API as a person would set them up."""
    await stack.start_api("api (seed)", UNPOLLED_QUEUE)
    try:
        async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.headers, timeout=60) as http:
            await seed_catalog(http, skus)
    finally:
        stack.stop("api (seed)")


async def wait_for_pollers(client: Client, task_queue: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        described = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
        if described.pollers:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"no worker polls {task_queue}")


async def poll_until(what: str, done: Callable[[], Awaitable[bool]], within: float, every: float = 0.5) -> None:
    deadline = time.monotonic() + within
    while not await done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {within:.0f} s")
        await asyncio.sleep(every)


def history_shape(events: Sequence[Any]) -> dict[str, Any]:
    kinds = Counter(EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in events)
    return {"events": len(events), "by_type": dict(kinds.most_common())}


def time_split(events: Sequence[Any]) -> dict[str, float]:
    """Where one workflow's wall time went, in seconds, from its history's event times: waiting in a
    task queue versus being worked on, for workflow tasks and for activities."""
    at = {e.event_id: e.event_time.ToDatetime().timestamp() for e in events}
    split = Counter[str]()
    for e in events:
        kind = e.event_type
        t = at[e.event_id]
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            split["workflow_task_queued"] += t - at[e.workflow_task_started_event_attributes.scheduled_event_id]
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            split["workflow_task_running"] += t - at[e.workflow_task_completed_event_attributes.started_event_id]
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            split["activity_queued"] += t - at[e.activity_task_started_event_attributes.scheduled_event_id]
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            split["activity_running"] += t - at[e.activity_task_completed_event_attributes.started_event_id]
    total = at[events[-1].event_id] - at[events[0].event_id]
    split["between_tasks"] = total - sum(split.values())
    split["total"] = total
    return dict(split)


async def time_split_of(client: Client, workflow_ids: list[str], sample: int = 40) -> dict[str, float]:
    """Mean time_split over an even sample of the workflows, in milliseconds."""
    step = max(1, len(workflow_ids) // sample)
    chosen = workflow_ids[::step][:sample]
    splits = [time_split((await client.get_workflow_handle(w).fetch_history()).events) for w in chosen]
    keys = ["workflow_task_queued", "workflow_task_running", "activity_queued", "activity_running"]
    return {
        k: round(1000 * sum(s.get(k, 0.0) for s in splits) / len(splits), 1) for k in [*keys, "between_tasks", "total"]
    }


async def until_completed(client: Client, order_id: str) -> None:
    """Until the order's status is `completed` (its workflow then waits for delivery reports)."""
    handle = client.get_workflow_handle(f"order-{order_id}")
    while True:
        if (await handle.query("view")).get("status") == "completed":
            return
        await asyncio.sleep(0.01)


# ---------------------------------------------------------------------------------------------- phases


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


async def submit_phase(stack: Stack, client: Client, opts: Options, run_id: str) -> dict[str, Any]:
    """Both endpoints start workflows on queues nobody polls, so nothing but submitting loads the machine."""
    api = await stack.start_api("api (submit)", UNPOLLED_QUEUE)
    skus = catalog(opts.skus)
    result: dict[str, Any] = {}
    limits = httpx.Limits(max_connections=opts.submit_clients, max_keepalive_connections=opts.submit_clients)
    async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.headers, timeout=60, limits=limits) as http:
        # Warm both paths (connections, imports, prepared statements) before timing.
        await start_only(Submitter(http), 10, 1, f"warm-{run_id}")
        await submit_orders(Submitter(http), "warm", 10, 1, run_id, skus)
        for clients, count, label in (
            (1, opts.unloaded_requests, "one_client"),
            (opts.submit_clients, opts.submit_requests, f"{opts.submit_clients}_clients"),
        ):
            # In alternating rounds, so that drift (the server's files growing, other load) falls on both.
            processes = {"temporal server": stack.processes["temporal server"], "api": api}
            bare_cpu, real_cpu = CpuWindow(processes, stack.uses_postgres), CpuWindow(processes, stack.uses_postgres)
            bare, real = Submitter(http), Submitter(http)
            bare_wall = real_wall = 0.0
            for round_ in range(SUBMIT_ROUNDS):
                share = count // SUBMIT_ROUNDS + (1 if round_ < count % SUBMIT_ROUNDS else 0)
                bare_cpu.start()
                bare_wall += await start_only(bare, share, clients, f"{label}-{run_id}-{round_}")
                bare_cpu.stop()
                real_cpu.start()
                real_wall += await submit_orders(real, f"s{clients}", share, clients, f"{run_id}-{round_}", skus)
                real_cpu.stop()
            result[label] = {
                "clients": clients,
                "rounds": SUBMIT_ROUNDS,
                "start_only": {**bare.figures(bare_wall), "cpu": bare_cpu.report()},
                "submit_order": {**real.figures(real_wall), "cpu": real_cpu.report()},
            }
            bare_rate = result[label]["start_only"]["per_second"]
            result[label]["ratio"] = round(result[label]["submit_order"]["per_second"] / bare_rate, 2)
    result["memory"] = memory({"api": api})
    sample = f"order-s1-{run_id}-0-000000"
    result["start_only_history"] = history_shape(
        (await client.get_workflow_handle(f"start-only-one_client-{run_id}-0-000000").fetch_history()).events
    )
    result["submit_order_history"] = history_shape((await client.get_workflow_handle(sample).fetch_history()).events)
    stack.stop("api (submit)")
    result["api_sql"] = read_sql_counts(stack, "api (submit)")
    return result


def merge_counts(counts: list[dict[str, Any]]) -> dict[str, Any]:
    by_kind: Counter[str] = Counter()
    for c in counts:
        by_kind.update(c.get("by_kind", {}))
    return {
        "statements": sum(c.get("statements", 0) for c in counts),
        "commits": sum(c.get("commits", 0) for c in counts),
        "by_kind": dict(by_kind.most_common()),
    }


def read_sql_counts(stack: Stack, name: str) -> dict[str, Any]:
    path = stack.sql_counts.get(name)
    if path is None or not path.exists():
        return {}
    counts: dict[str, Any] = json.loads(path.read_text())
    return counts


class Profiler:
    """py-spy on a process from start() until stop(); folded stacks summarized by function."""

    def __init__(self, name: str, pid: int, out: Path) -> None:
        self.name, self.pid, self.out = name, pid, out
        self.proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> str | None:
        return shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")

    def start(self) -> None:
        binary = self.available()
        if binary is None:
            return
        log = open(self.out.with_suffix(".log"), "wb")  # noqa: SIM115 - owned by the child
        command = [
            binary,
            "record",
            "--pid",
            str(self.pid),
            "--rate",
            "100",
            "--gil",
            "--nonblocking",
            "--format",
            "raw",
            "-o",
            str(self.out),
        ]
        self.proc = subprocess.Popen(command, stdout=log, stderr=log)

    def stop(self) -> dict[str, Any]:
        if self.proc is None:
            return {"error": "py-spy not installed: .venv/bin/pip install py-spy"}
        self.proc.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=30)
        if not self.out.exists():
            return {"error": f"py-spy wrote nothing; see {self.out.with_suffix('.log')}"}
        return summarize_folded(self.out)


def summarize_folded(path: Path, top: int = 25) -> dict[str, Any]:
    """Inclusive share of samples per function (a function counted once per stack) and self share."""
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [frame.rsplit(":", 1)[0] for frame in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += count
        leaf[frames[-1]] += count
    share = 100 / total if total else 0
    return {
        "samples": total,
        "file": str(path),
        "inclusive_percent": {k: round(v * share, 1) for k, v in inclusive.most_common(top)},
        "self_percent": {k: round(v * share, 1) for k, v in leaf.most_common(top)},
    }


async def orderflow_phase(
    stack: Stack, client: Client, db: AsyncEngine, opts: Options, run_id: str, channel: str = "bench"
) -> dict[str, Any]:
    names = ["worker", *(f"worker {k}" for k in range(2, opts.workers + 1))]
    # As `make run`: the first worker runs the outbox relay, the others only workflows and steps.
    workers = {name: stack.start_worker(name, ORDERS_QUEUE, "auto", relay=name == "worker") for name in names}
    worker = workers["worker"]
    api = await stack.start_api("api", ORDERS_QUEUE)
    await wait_for_pollers(client, ORDERS_QUEUE)
    stock_before = await stock_levels(db)
    cpu = CpuWindow({"temporal server": stack.processes["temporal server"], **workers, "api": api}, stack.uses_postgres)
    profile_dir = HERE / "results" / f"profiles-{run_id}"
    if opts.profile:
        profile_dir.mkdir(parents=True, exist_ok=True)
    profilers = [Profiler(name, p.pid, profile_dir / f"{name}.txt") for name, p in (("worker", worker), ("api", api))]

    # Done is what Temporal says (the OrderStatus search attribute: a completed order's workflow stays open
    # for delivery reports); the read model is checked afterwards, as a projection that may lag or err.
    query = (
        f'WorkflowType="{ORDER_WORKFLOW}" AND TaskQueue="{ORDERS_QUEUE}" AND WorkflowId STARTS_WITH "order-{channel}-"'
    )

    async def all_completed() -> bool:
        return (await client.count_workflows(query + ' AND OrderStatus="completed"')).count >= opts.orders

    if opts.profile:
        for profiler in profilers:
            profiler.start()
    cpu.start()
    limits = httpx.Limits(max_connections=opts.clients, max_keepalive_connections=opts.clients)
    async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.headers, timeout=60, limits=limits) as http:
        submitter = Submitter(http)
        submit_wall = await submit_orders(submitter, channel, opts.orders, opts.clients, run_id, catalog(opts.skus))
    # A lost order never completes: the wait ends with whatever did.
    with contextlib.suppress(TimeoutError):
        await poll_until(f"{opts.orders} orders completing", all_completed, within=120 + 2 * opts.orders)
    cpu.stop()
    profiles = {p.name: p.stop() for p in profilers} if opts.profile else {}
    peak = memory(cpu.processes)

    done_at: dict[str, float] = {}
    completed = {
        e.id.removeprefix("order-") async for e in client.list_workflows(query + ' AND OrderStatus="completed"')
    }
    async with db.connect() as c:
        # When the order became `completed`: the invoice step's projection, the last write before delivery.
        rows = await c.execute(select(OrderRow.order_id, OrderRow.updated_at).where(OrderRow.channel == channel))
        for order_id, updated_at in rows.all():
            if order_id in completed and order_id in submitter.submitted_at:
                done_at[order_id] = updated_at.timestamp()
    wall = (max(done_at.values()) - min(submitter.submitted_at.values())) if done_at else float("nan")
    integrity = await check_integrity(
        client, db, channel, opts.orders, catalog(opts.skus), submitter, stock_before, len(done_at)
    )
    sample = workflow_id = f"order-{channel}-{run_id}-000000"
    shape = history_shape((await client.get_workflow_handle(workflow_id).fetch_history()).events)
    split = await time_split_of(client, sorted(f"order-{k}" for k in submitter.submitted_at))
    stack.stop("api")
    for name in names:
        stack.stop(name)
    worker_sql = merge_counts([read_sql_counts(stack, name) for name in names])
    api_sql = read_sql_counts(stack, "api")
    return {
        "count": opts.orders,
        "clients": opts.clients,
        "workers": opts.workers,
        "skus": opts.skus,
        "completed": len(done_at),
        "wall_seconds": round(wall, 2),
        "per_second": round(len(done_at) / wall, 2) if done_at else 0.0,
        "submit": submitter.figures(submit_wall),
        "submit_to_completed_ms": latency_ms([done_at[k] - submitter.submitted_at[k] for k in done_at]),
        "integrity": integrity,
        "cpu": cpu.report(),
        "cpu_ms_per_workflow": cpu.per_item_ms(opts.orders),
        "memory": peak,
        "history": {"sample": sample, **shape},
        "time_split_ms": split,
        "sql_per_order": {
            "worker_statements": round(worker_sql.get("statements", 0) / max(1, opts.orders), 1),
            "worker_commits": round(worker_sql.get("commits", 0) / max(1, opts.orders), 1),
            "api_statements": round(api_sql.get("statements", 0) / max(1, opts.orders), 1),
            "worker_by_kind": {k: round(v / max(1, opts.orders), 2) for k, v in worker_sql.get("by_kind", {}).items()},
            "api_by_kind": {k: round(v / max(1, opts.orders), 2) for k, v in api_sql.get("by_kind", {}).items()},
        },
        "profiles": profiles,
    }


async def stock_levels(db: AsyncEngine) -> dict[str, tuple[int, int]]:
    async with db.connect() as c:
        rows = (
            await c.execute(select(Stock.sku, Stock.on_hand, Stock.reserved).where(Stock.sku.like("BENCH-%")))
        ).all()
    return {sku: (on_hand, reserved) for sku, on_hand, reserved in rows}


async def check_integrity(
    client: Client,
    db: AsyncEngine,
    channel: str,
    count: int,
    skus: Sequence[str],
    submitter: Submitter,
    stock_before: dict[str, tuple[int, int]],
    workflows_completed: int,
) -> dict[str, Any]:
    """Every submitted order exactly once: one row, one pick list, one shipment, one invoice, one
    workflow, and stock moved by exactly what was ordered."""
    async with db.connect() as c:

        async def rows_and_orders(table: Any) -> tuple[int, int]:
            query = (
                select(func.count(), func.count(distinct(table.order_id)))
                .select_from(table)
                .join(OrderRow, OrderRow.order_id == table.order_id)
                .where(OrderRow.channel == channel)
            )
            total, orders = (await c.execute(query)).one()
            return int(total), int(orders)

        found = {
            "pick_lists": await rows_and_orders(PickList),
            "shipments": await rows_and_orders(Shipment),
            "invoices": await rows_and_orders(Invoice),
        }
        orders = int((await c.execute(select(func.count()).where(OrderRow.channel == channel))).scalar_one())
        statuses = dict(
            (
                await c.execute(
                    select(OrderRow.status, func.count()).where(OrderRow.channel == channel).group_by(OrderRow.status)
                )
            ).all()
        )
    workflows = (await client.count_workflows(f'WorkflowType="{ORDER_WORKFLOW}" AND TaskQueue="{ORDERS_QUEUE}"')).count
    stock_after = await stock_levels(db)
    shipped = {sku: before - stock_after[sku][0] for sku, (before, _) in stock_before.items()}
    expected: Counter[str] = Counter()
    for i in range(count):
        expected.update(order_lines(i, skus))
    expected_units = {sku: expected.get(sku, 0) for sku in stock_before}
    accepted = submitter.statuses.get(201, 0)
    problems = []
    if accepted != count:
        problems.append(f"{accepted} of {count} submissions answered 201: {dict(submitter.statuses)}")
    if orders != count:
        problems.append(f"{orders} order rows for {count} orders")
    for table, (total, distinct_orders) in found.items():
        if total != count or distinct_orders != count:
            problems.append(f"{table}: {total} rows for {distinct_orders} orders, expected {count}")
    if workflows != count:
        problems.append(f"{workflows} order workflows for {count} orders")
    if workflows_completed != count:
        problems.append(f"{workflows_completed} of {count} order workflows completed")
    if statuses.get("completed", 0) != workflows_completed:
        problems.append(f"read model statuses {statuses} for {workflows_completed} completed workflows")
    if shipped != expected_units:
        problems.append(f"stock moved {shipped}, expected {expected_units}")
    if any(reserved for _, reserved in stock_after.values()):
        problems.append(f"stock still reserved: {stock_after}")
    return {
        "ok": not problems,
        "problems": problems,
        "order_rows": orders,
        "workflows": workflows,
        "workflows_completed": workflows_completed,
        "read_model_statuses": statuses,
        **{t: {"rows": r, "orders": o} for t, (r, o) in found.items()},
        "units_shipped": sum(shipped.values()),
    }


async def parked_phase(stack: Stack, client: Client, db: AsyncEngine, opts: Options, run_id: str) -> dict[str, Any]:
    """Orders waiting at `picking` (manual warehouse): memory of the worker, latency of new orders."""
    worker = stack.start_worker("worker (manual)", ORDERS_QUEUE, "manual")
    api = await stack.start_api("api (parked)", ORDERS_QUEUE)
    await wait_for_pollers(client, ORDERS_QUEUE)
    server = stack.processes["temporal server"]

    async def has_pick_list(order_id: str) -> bool:
        async with db.connect() as c:
            result = await c.execute(select(PickList.pick_list_id).where(PickList.order_id == order_id))
            return result.first() is not None

    async def wait_for_pick_list(order_id: str, within: float = 120) -> None:
        """Parked: its pick list is open (the read model's status may lag; the pick list row does not)."""
        deadline = time.monotonic() + within
        while not await has_pick_list(order_id):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{order_id} never got a pick list")
            await asyncio.sleep(0.01)

    async def probe(http: httpx.AsyncClient, label: str) -> dict[str, Any]:
        """One order at a time on an otherwise idle system: submit, then until it waits at `picking`."""
        submit: list[float] = []
        to_picking: list[float] = []
        for i in range(opts.probes):
            external_id = f"{label}-{run_id}-{i:04d}"
            t0 = time.perf_counter()
            response = await http.post("/v1/orders", json=order_body("probe", external_id, i, catalog(opts.skus)))
            response.raise_for_status()
            submit.append(time.perf_counter() - t0)
            await wait_for_pick_list(f"probe-{external_id}")
            to_picking.append(time.perf_counter() - t0)
        return {"submit_ms": latency_ms(submit), "submit_to_picking_ms": latency_ms(to_picking)}

    async def confirm(http: httpx.AsyncClient, order_ids: list[str]) -> dict[str, Any]:
        """Confirm picks one at a time; until the order is `completed`."""
        took: list[float] = []
        for order_id in order_ids:
            t0 = time.perf_counter()
            response = await http.post(f"/v1/pick-lists/PL-{order_id}.1-{WAREHOUSE}/confirm")
            response.raise_for_status()
            await asyncio.wait_for(until_completed(client, order_id), timeout=120)
            took.append(time.perf_counter() - t0)
        return latency_ms(took)

    async def parked_count() -> int:
        async with db.connect() as c:
            query = (
                select(func.count())
                .select_from(PickList)
                .join(OrderRow, OrderRow.order_id == PickList.order_id)
                .where(OrderRow.channel == "park")
            )
            return int((await c.execute(query)).scalar_one())

    async def read_model_statuses() -> dict[str, int]:
        async with db.connect() as c:
            query = select(OrderRow.status, func.count()).where(OrderRow.channel == "park").group_by(OrderRow.status)
            return {status: int(n) for status, n in (await c.execute(query)).all()}

    async def all_parked() -> bool:
        return await parked_count() >= opts.parked

    series: list[dict[str, float]] = []
    async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.headers, timeout=60) as http:
        await probe(http, "warm")
        rss_idle = {"worker": worker.rss_mib(), "temporal server": server.rss_mib()}
        before = await probe(http, "before")

        started = time.monotonic()
        sampling = True

        async def sample() -> None:
            while sampling:
                series.append(
                    {
                        "t": round(time.monotonic() - started, 1),
                        "parked": await parked_count(),
                        "worker_rss_mib": round(worker.rss_mib(), 1),
                        "server_rss_mib": round(server.rss_mib(), 1),
                    }
                )
                await asyncio.sleep(max(1.0, opts.parked / 1000))

        sampler = asyncio.create_task(sample())
        limits = httpx.Limits(max_connections=opts.clients, max_keepalive_connections=opts.clients)
        async with httpx.AsyncClient(
            base_url=stack.api_url, headers=stack.headers, timeout=60, limits=limits
        ) as park_http:
            parker = Submitter(park_http)
            park_submit_wall = await submit_orders(
                parker, "park", opts.parked, opts.clients, run_id, catalog(opts.skus)
            )
        await poll_until(f"{opts.parked} orders parking", all_parked, within=120 + 2 * opts.parked, every=1)
        parking_wall = time.monotonic() - started
        sampling = False
        await sampler
        rss_parked = {"worker": worker.rss_mib(), "temporal server": server.rss_mib()}
        statuses = await read_model_statuses()

        after = await probe(http, "after")
        confirm_new = await confirm(http, [f"probe-after-{run_id}-{i:04d}" for i in range(opts.probes)])
        # The first parked orders have long left the worker's workflow cache: confirming them replays history.
        oldest = [f"park-{run_id}-{i:06d}" for i in range(min(opts.probes, opts.parked))]
        confirm_oldest = await confirm(http, oldest)
    result = {
        "parked": opts.parked,
        "parking_seconds": round(parking_wall, 1),
        "parking_per_second": round(opts.parked / parking_wall, 2),
        "park_submit": parker.figures(park_submit_wall),
        "rss_mib_idle": {k: round(v, 1) for k, v in rss_idle.items()},
        "rss_mib_parked": {k: round(v, 1) for k, v in rss_parked.items()},
        "read_model_statuses": statuses,
        "memory": memory({"temporal server": server, "worker": worker, "api": api}),
        "new_order_before": before,
        "new_order_after": after,
        "confirm_recent_to_completed_ms": confirm_new,
        "confirm_oldest_to_completed_ms": confirm_oldest,
        "series": series,
    }
    stack.stop("api (parked)")
    stack.stop("worker (manual)")
    return result


# ---------------------------------------------------------------------------------------------- report


def render(results: dict[str, Any]) -> str:
    out: list[str] = []
    w = out.append
    machine = results["machine"]
    w(f"orderflow bench · {machine['cpus']} CPUs · database {results['database']} · {results['started']}")
    w(f"code: {results['code']} · dev server SQLite {results['options']['server_sqlite']}")

    def cpu_line(cpu: dict[str, dict[str, float]]) -> str:
        other = cpu.get("other processes", {}).get("percent_of_one_core", 0.0)
        line = ", ".join(
            f"{name} {v['percent_of_one_core']:.0f}% of a core ({v['share_of_busy_cpu']:.0f}% of busy)"
            for name, v in cpu.items()
            if v["cpu_seconds"] > 0.05
        )
        return line + (" — DISTURBED: something else was busy on this machine" if other >= 10 else "")

    def per_item(ms: dict[str, float]) -> str:
        return ", ".join(f"{name} {v:.0f} ms" for name, v in ms.items() if v >= 0.5 and name != "other processes")

    def mem_line(mem: dict[str, dict[str, float]]) -> str:
        return ", ".join(f"{name} {v['peak_rss_mib']:.0f} MiB" for name, v in mem.items())

    def split_line(d: dict[str, float]) -> str:
        return (
            f"  mean time per workflow {d['total']:.0f} ms: workflow tasks queued {d['workflow_task_queued']:.0f} / "
            f"running {d['workflow_task_running']:.0f}, activities queued {d['activity_queued']:.0f} / running "
            f"{d['activity_running']:.0f}, between tasks {d['between_tasks']:.0f}"
        )

    def lat(d: dict[str, float]) -> str:
        return f"p50 {d['p50']:.0f} / p95 {d['p95']:.0f} / p99 {d['p99']:.0f} ms"

    for key in ("floor", "floor_local"):
        if key in results:
            f = results[key]
            w(f"\n{key.replace('_', ' ')}: {f['workflow']} x{f['count']} ({f['clients']} clients)")
            w(f"  {f['per_second']:.1f} workflows/s · start to close {lat(f['start_to_close_ms'])}")
            w(split_line(f["time_split_ms"]))
            w(f"  CPU: {cpu_line(f['cpu'])}")
            w(f"  CPU per workflow: {per_item(f['cpu_ms_per_workflow'])}")
            w(f"  peak RSS: {mem_line(f['memory'])}")
    if "submit" in results:
        s = results["submit"]
        w("\nsubmit (workflows land on unpolled queues: only submitting costs)")
        for d in s.values():
            if not isinstance(d, dict) or "start_only" not in d:
                continue
            bare, real = d["start_only"], d["submit_order"]
            api_bare = bare["cpu"].get("api", {}).get("percent_of_one_core", 0)
            api_real = real["cpu"].get("api", {}).get("percent_of_one_core", 0)
            w(f"  {d['clients']} client(s), ratio {d['ratio']:.2f}")
            for name, d2, api_cpu in (("start-only", bare, api_bare), ("POST /v1/orders", real, api_real)):
                w(f"    {name:<16}{d2['per_second']:5.0f}/s  {lat(d2['latency_ms'])}  API {api_cpu:.0f}% of a core")
    if "rules" in results:
        r = results["rules"]
        w(
            f"\nrules: {r['without']['per_second']:.1f} orders/s without, {r['with']['per_second']:.1f} with "
            f"{r['rules']} active rules (ratio {r['ratio']:.3f}); submit p50 {r['submit_p50_ms']['without']:.0f} "
            f"→ {r['submit_p50_ms']['with']:.0f} ms"
        )
    if "orderflow" in results:
        o = results["orderflow"]
        w(f"\norderflow: {o['completed']}/{o['count']} orders completed")
        w(f"  ({o['clients']} clients, {o['workers']} worker process(es), {o['skus']} SKUs)")
        w(f"  {o['per_second']:.1f} orders/s end to end")
        if "floor" in results:
            w(f"  ratio to floor {o['per_second'] / results['floor']['per_second']:.2f}")
        if "floor_local" in results:
            w(f"  ratio to local-activity floor {o['per_second'] / results['floor_local']['per_second']:.2f}")
        w(f"  submit round trip {lat(o['submit']['latency_ms'])} ({o['submit']['per_second']:.0f}/s offered)")
        w(f"  submission to completed {lat(o['submit_to_completed_ms'])}")
        w(split_line(o["time_split_ms"]))
        w(f"  CPU: {cpu_line(o['cpu'])}")
        w(f"  CPU per order: {per_item(o['cpu_ms_per_workflow'])}")
        w(f"  peak RSS: {mem_line(o['memory'])}")
        sql = o["sql_per_order"]
        w(
            f"  per order: {sql['worker_statements']} SQL statements and {sql['worker_commits']} commits in the "
            f"worker, {sql['api_statements']} in the API; history {o['history']['events']} events"
        )
        integrity = o["integrity"]
        w("  no order lost or duplicated" if integrity["ok"] else f"  INTEGRITY: {'; '.join(integrity['problems'])}")
    if "parked" in results:
        p = results["parked"]
        w(
            f"\nparked: {p['parked']} orders waiting at picking (parked in {p['parking_seconds']:.0f} s, "
            f"{p['parking_per_second']:.1f}/s)"
        )
        w(
            f"  worker RSS {p['rss_mib_idle']['worker']:.0f} → {p['rss_mib_parked']['worker']:.0f} MiB, "
            f"server {p['rss_mib_idle']['temporal server']:.0f} → {p['rss_mib_parked']['temporal server']:.0f} MiB"
        )
        b, a = p["new_order_before"], p["new_order_after"]
        w(
            f"  new order submit→picking: before {lat(b['submit_to_picking_ms'])}; "
            f"after {lat(a['submit_to_picking_ms'])}"
        )
        w(f"  new order submit round trip: before {lat(b['submit_ms'])}; after {lat(a['submit_ms'])}")
        if set(p["read_model_statuses"]) != {"picking"}:
            w(f"  READ MODEL: parked orders show {p['read_model_statuses']} (all are waiting at picking)")
        w(
            f"  confirm→completed: recent {lat(p['confirm_recent_to_completed_ms'])}; "
            f"oldest {lat(p['confirm_oldest_to_completed_ms'])}"
        )
    w(f"\nJSON: {results['json']}")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------- main


def code_version() -> str:
    """The commit measured, and whether the work tree differs from it in orderflow's own code."""
    repo = HERE.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", ".", ":!bench", ":!docs", ":!Makefile"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git work tree)"
    return f"{commit} with {len(changed)} changed files" if changed else commit


async def run(opts: Options) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:6].upper()
    root = Path(tempfile.mkdtemp(prefix="orderflow-bench-"))
    postgres = PostgresDatabase() if opts.postgres else None
    if postgres is not None:
        await postgres.create()
        url = postgres.url
    else:
        url = f"sqlite+aiosqlite:///{root / 'orderflow.db'}"
    stack = Stack(root, url, opts.log_level, opts.worker_options, opts.server_sqlite)
    results: dict[str, Any] = {
        "started": datetime.now().astimezone().isoformat(timespec="seconds"),
        "database": "postgresql" if postgres else "sqlite",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(opts).items()},
        "temp_dir": str(root),
        "code": code_version(),
    }
    db = create_async_engine(url)
    failed = True
    try:
        print(f"starting Temporal on {stack.temporal_address} (logs under {stack.logs})", flush=True)
        await stack.start_temporal()
        await migrate_database(url, WAREHOUSE)
        await stack.authorize()
        client = await Client.connect(stack.temporal_address)
        if "floor" not in opts.skip:
            print(f"floor: {opts.floor} bare workflows", flush=True)
            results["floor"] = await floor_phase(
                stack, client, FLOOR_WORKFLOW, opts.floor, opts.clients, run_id, opts.workers
            )
        if "local-floor" not in opts.skip:
            print(f"floor: {opts.floor} bare workflows, local activities", flush=True)
            results["floor_local"] = await floor_phase(
                stack, client, FLOOR_LOCAL_WORKFLOW, opts.floor, opts.clients, run_id, opts.workers
            )
        if "submit" not in opts.skip or "orderflow" not in opts.skip or "parked" not in opts.skip or opts.rules:
            await seed(stack, catalog(opts.skus))
        if "submit" not in opts.skip:
            print("submit: start-only endpoint against POST /v1/orders", flush=True)
            results["submit"] = await submit_phase(stack, client, opts, run_id)
        if "orderflow" not in opts.skip:
            print(f"orderflow: {opts.orders} orders end to end", flush=True)
            results["orderflow"] = await orderflow_phase(stack, client, db, opts, run_id)
        if opts.rules > 0:
            print(f"rules: {opts.orders} orders end to end without, then with {opts.rules} active rules", flush=True)
            without = await orderflow_phase(stack, client, db, opts, f"{run_id}N", channel="norules")
            installed = await install_rules(db, opts.rules)
            with_rules = await orderflow_phase(stack, client, db, opts, f"{run_id}R", channel="rules")
            await archive_rules(db, installed)
            results["rules"] = compare(without, with_rules, opts.rules)
        if "parked" not in opts.skip:
            print(f"parked: {opts.parked} orders waiting for pick confirmation", flush=True)
            results["parked"] = await parked_phase(stack, client, db, opts, run_id)
        failed = False
    finally:
        stack.stop_all()
        await db.dispose()
        if postgres is not None:
            await postgres.drop()
        if failed or opts.keep:
            print(f"logs and databases kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return results


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    opts = parse_args(argv)
    # Stopped from outside, still stop the stack on the way out.
    signal.signal(signal.SIGTERM, _interrupt)
    results = asyncio.run(run(opts))
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = opts.out or HERE / "results" / f"{stamp}-{results['database']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    results["json"] = str(out)
    out.write_text(json.dumps(results, indent=2, default=str))
    print("\n" + render(results))
