"""Orders left waiting for pick confirmation: worker memory and new-order latency."""

import asyncio
import time
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from bench.load import (
    ORDERS_QUEUE,
    WAREHOUSE,
    Submitter,
    catalog,
    order_body,
    poll_until,
    submit_orders,
    until_completed,
    wait_for_pollers,
)
from bench.measure import latency_ms, memory
from bench.options import Options
from bench.stack import Stack
from store.tables import OrderRow, PickList


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
