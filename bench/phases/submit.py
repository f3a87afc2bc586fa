"""The bare start-only endpoint against the real POST /v1/orders, one client and many."""

from typing import Any

import httpx
from temporalio.client import Client

from bench.load import UNPOLLED_QUEUE, Submitter, catalog, start_only, submit_orders
from bench.measure import history_shape, memory, read_sql_counts
from bench.options import Options
from bench.stack import CpuWindow, Stack
from domain.contract import order_workflow_id

# The submit comparison alternates bare and real in this many rounds.
SUBMIT_ROUNDS = 3


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
    sample = order_workflow_id(f"s1-{run_id}-0-000000")
    result["start_only_history"] = history_shape(
        (await client.get_workflow_handle(f"start-only-one_client-{run_id}-0-000000").fetch_history()).events
    )
    result["submit_order_history"] = history_shape((await client.get_workflow_handle(sample).fetch_history()).events)
    stack.stop("api (submit)")
    result["api_sql"] = read_sql_counts(stack, "api (submit)")
    return result
