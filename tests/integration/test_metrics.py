"""GET /metrics parses as Prometheus text, and its counters move by exactly what a test created."""

import socket
import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from config import WarehouseMode
from domain.access import Role
from store.db import create_engine, create_sessions
from tests.conftest import Stack, StackFactory, bearer, order_body, settings_for, stock_up, unique
from tests.integration.test_api_exceptions import eventually
from worker import build_worker, metrics_runtime

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(stack: Stack, headers: dict[str, str] | None = None) -> Samples:
    response = await stack.http.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_counters_move_by_exactly_the_orders_and_exceptions_created(
    stack_factory: StackFactory, database_url: str
) -> None:
    channel = f"met{uuid.uuid4().hex[:8]}"
    async with stack_factory(database_url, mode=WarehouseMode.AUTO, backorder_window_hours=0) as stack:
        plenty, scarce = unique("TEE"), unique("POSTER")
        await stock_up(stack.sessions, {plenty: 10, scarce: 1})
        before = await scrape(stack)
        smooth = (await stack.http.post("/v1/orders", json=order_body({plenty: 1}, channel=channel))).json()
        stuck = (await stack.http.post("/v1/orders", json=order_body({scarce: 3}, channel=channel))).json()
        await stack.wait_for_status(smooth["order_id"], "completed")
        await stack.wait_for_status(stuck["order_id"], "needs_attention")

        after = await eventually(
            lambda: scrape(stack),
            lambda s: (
                value(s, "orderflow_open_exceptions", kind="stock_shortage")
                > value(before, "orderflow_open_exceptions", kind="stock_shortage")
            ),
        )

        def moved(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        assert value(after, "orderflow_orders_received_total", channel=channel) == 2
        assert moved("orderflow_exceptions_opened_total", kind="stock_shortage") == 1
        assert moved("orderflow_open_exceptions", kind="stock_shortage") == 1
        assert moved("orderflow_order_cycle_seconds_count") == 1
        # Shipped at once by the built-in warehouse: inside the first bucket (an hour).
        assert moved("orderflow_order_cycle_seconds_bucket", le="3600.0") == 1
        assert moved("orderflow_orders_at_risk") == 1
        assert (
            moved("orderflow_http_request_duration_seconds_count", route="/v1/orders", method="POST", status="2xx") == 2
        )
        assert value(after, "orderflow_webhook_deliveries", status="failed") >= 0
        # Never an order ID as a label value.
        assert not any(channel + "-" in v for _, labels in after for _, v in labels)
        orders_route = value(
            after,
            "orderflow_http_request_duration_seconds_count",
            route="/v1/orders/{order_id}",
            method="GET",
            status="2xx",
        )
        assert orders_route >= 1


async def test_metrics_need_an_admin_key_or_the_metrics_token(stack_factory: StackFactory, sqlite_url: str) -> None:
    token = uuid.uuid4().hex
    async with stack_factory(sqlite_url, metrics_token=token) as stack:
        assert (await stack.http.get("/metrics", headers={"Authorization": "Basic x"})).status_code == 401
        assert (await stack.http.get("/metrics", headers=bearer("of_not_a_key"))).status_code == 401
        for role in (Role.VIEWER, Role.HANDLER, Role.CHANNEL):
            assert (await stack.http.get("/metrics", headers=stack.as_role(role))).status_code == 403, role
        samples = await scrape(stack, bearer(token))
        assert ("orderflow_orders_at_risk", frozenset()) in samples


async def test_each_worker_process_serves_the_sdk_metrics_on_its_own_port(
    dev_env: WorkflowEnvironment, sqlite_url: str
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = settings_for(sqlite_url, worker_metrics_port=port)
    runtimes = [metrics_runtime(settings), metrics_runtime(settings)]  # two processes' worth: two ports
    client = await Client.connect(dev_env.client.service_client.config.target_host, runtime=runtimes[0])
    engine = create_engine(sqlite_url)
    try:
        async with build_worker(client, settings, create_sessions(engine)), httpx.AsyncClient() as http:
            text = await eventually(
                lambda: http.get(f"http://127.0.0.1:{port}/metrics"),
                lambda r: settings.task_queue in r.text,
            )
            assert (await http.get(f"http://127.0.0.1:{port + 1}/metrics")).status_code == 200
        names = {family.name for family in text_string_to_metric_families(text.text)}
        assert any(name.startswith("temporal_") for name in names), names
    finally:
        await engine.dispose()
