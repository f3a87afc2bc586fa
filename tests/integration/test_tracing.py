"""With tracing on, one trace follows an order from the API request through the workflow and its steps."""

import httpx
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

import telemetry
from api.app import create_app
from config import WarehouseMode
from domain.access import Role
from store import catalog
from store.db import Database
from tests.conftest import Stack, bearer, make_key, order_body, settings_for, stock_up, unique
from worker import build_worker


async def test_one_trace_from_the_request_through_the_workflow_and_its_activities(
    dev_env: WorkflowEnvironment, sqlite_url: str
) -> None:
    exporter = InMemorySpanExporter()
    tracing = telemetry.setup("orderflow-test", exporter)
    assert tracing is not None
    client = await Client.connect(
        dev_env.client.service_client.config.target_host,
        namespace=dev_env.client.namespace,
        interceptors=[tracing.interceptor()],
    )
    settings = settings_for(sqlite_url, mode=WarehouseMode.AUTO)
    database = Database(sqlite_url)
    sessions = database.sessions
    try:
        async with sessions.begin() as s:
            await catalog.ensure_warehouse(s, settings.default_warehouse, "Main warehouse")
        sku = unique("TEE")
        await stock_up(sessions, {sku: 5})
        admin = await make_key(sessions, Role.ADMIN)
        app = create_app(settings, temporal=client, tracing=tracing)
        async with build_worker(client, settings, sessions, database.short_work), app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=bearer(admin)) as http:
                stack = Stack(http, client, settings, sessions, {Role.ADMIN: admin})
                order_id = (await http.post("/v1/orders", json=order_body({sku: 1}))).json()["order_id"]
                await stack.wait_for_status(order_id, "completed")
    finally:
        await database.close()

    spans = exporter.get_finished_spans()
    request = next(s for s in spans if s.name == "POST /v1/orders")
    in_trace = [s for s in spans if s.context is not None and s.context.trace_id == request.context.trace_id]
    names = {s.name for s in in_trace}
    assert any(n.startswith("StartWorkflow:") for n in names), names
    assert any(n.startswith("RunWorkflow:") for n in names), names
    steps = ("confirm_order", "reserve_stock", "create_pick_list", "book_shipment", "issue_invoice")
    assert {f"RunActivity:{step}" for step in steps} <= names, names

    with tracing.tracer.start_as_current_span("a log line inside a span") as span:
        line = telemetry.add_trace_id(None, "info", {"event": "x"})
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert "trace_id" not in telemetry.add_trace_id(None, "info", {"event": "outside any span"})
