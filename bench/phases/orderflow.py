"""Real orders through the HTTP API, warehouse in auto mode, submission to `completed`, and a check
that none was lost or duplicated."""

import contextlib
from collections import Counter
from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from bench.load import ORDERS_QUEUE, Submitter, catalog, order_lines, poll_until, submit_orders, wait_for_pollers
from bench.measure import (
    RESULTS,
    Profiler,
    history_shape,
    latency_ms,
    memory,
    merge_counts,
    read_sql_counts,
    time_split_of,
)
from bench.options import Options
from bench.stack import CpuWindow, Stack
from domain.contract import SearchAttribute, WorkflowType, order_id_of, order_workflow_id
from domain.orders import OrderStatus
from store.tables import Invoice, OrderRow, PickList, Shipment, Stock


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
    profile_dir = RESULTS / f"profiles-{run_id}"
    if opts.profile:
        profile_dir.mkdir(parents=True, exist_ok=True)
    profilers = [Profiler(name, p.pid, profile_dir / f"{name}.txt") for name, p in (("worker", worker), ("api", api))]

    # Done is what Temporal says (the OrderStatus search attribute: a completed order's workflow stays open
    # for delivery reports); the read model is checked afterwards, as a projection that may lag or err.
    query = (
        f'WorkflowType="{WorkflowType.ORDER.value}" AND TaskQueue="{ORDERS_QUEUE}"'
        f' AND WorkflowId STARTS_WITH "{order_workflow_id(channel)}-"'
    )
    completed_query = f'{query} AND {SearchAttribute.ORDER_STATUS}="{OrderStatus.COMPLETED}"'

    async def all_completed() -> bool:
        return (await client.count_workflows(completed_query)).count >= opts.orders

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
    completed = {order_id_of(e.id) async for e in client.list_workflows(completed_query)}
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
    sample = workflow_id = order_workflow_id(f"{channel}-{run_id}-000000")
    shape = history_shape((await client.get_workflow_handle(workflow_id).fetch_history()).events)
    split = await time_split_of(client, sorted(order_workflow_id(k) for k in submitter.submitted_at))
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
    workflows = (
        await client.count_workflows(f'WorkflowType="{WorkflowType.ORDER.value}" AND TaskQueue="{ORDERS_QUEUE}"')
    ).count
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
