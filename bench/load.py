"""The load the bench puts on a stack: clients, order bodies, seeding, and waiting for things to happen."""

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from bench.measure import latency_ms
from bench.stack import Stack
from domain.contract import Query, order_workflow_id

WAREHOUSE = "MAIN"
STOCK = 10**9
ORDERS_QUEUE = "orders-bench"
FLOOR_QUEUE = "floor-bench"
UNPOLLED_QUEUE = "orders-unpolled"


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


async def until_completed(client: Client, order_id: str) -> None:
    """Until the order's status is `completed` (its workflow then waits for delivery reports)."""
    handle = client.get_workflow_handle(order_workflow_id(order_id))
    while True:
        if (await handle.query(Query.VIEW)).get("status") == "completed":
            return
        await asyncio.sleep(0.01)
