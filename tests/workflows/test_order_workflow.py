"""The order workflow with real activities and a real SQLite database, on the time-skipping test server."""

import json
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.carrier import CarrierActivities
from config import WarehouseMode
from domain.contract import SearchAttribute
from domain.exceptions import ExceptionKind
from domain.orders import OrderStatus
from domain.steps import BookShipment, PickConfirmation, ShipmentBooked
from store import orders
from store.tables import Invoice, PickList, Reservation, Shipment
from tests.conftest import stock_up, unique
from tests.workflows.support import WorkerFactory, count, make_order, skip_until, start, stock_of
from workflows.order import OrderWorkflow


async def test_order_waits_for_pick_confirmation_then_ships_and_invoices(
    time_skipping_env: WorkflowEnvironment, worker_factory: WorkerFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    sku = unique("SKU")
    await stock_up(sessions, {sku: 5})
    order = make_order({sku: 2})
    async with worker_factory(mode=WarehouseMode.MANUAL) as settings:
        handle = await start(time_skipping_env, settings, order)
        await time_skipping_env.sleep(timedelta(hours=3))  # within the pick SLA: the order just waits
        view = await handle.query(OrderWorkflow.view)
        assert view.status is OrderStatus.PICKING
        assert view.fulfilments and view.fulfilments[0].pick_list is not None
        assert await stock_of(sessions, sku) == (5, 2)

        await handle.signal(
            OrderWorkflow.confirm_pick, PickConfirmation(view.fulfilments[0].pick_list.pick_list_id, "alice")
        )
        result = await handle.result()

    assert result.status is OrderStatus.COMPLETED
    [fulfilment] = result.fulfilments
    assert fulfilment.shipment is not None and fulfilment.shipment.tracking_number.startswith("OF")
    assert fulfilment.invoice is not None and fulfilment.invoice.amount == 2000
    assert [e.event for e in result.timeline] == [
        "received", "confirmed", "allocated", "pick_list_created", "picked", "shipped", "invoiced",
        "delivery_unconfirmed",  # result() waits out the delivery window: no carrier reported
    ]  # fmt: skip
    assert result.timeline[4].actor == "alice"
    assert await stock_of(sessions, sku) == (3, 0)
    for table in (Reservation, PickList, Shipment, Invoice):
        assert await count(sessions, table, order.order_id) == 1


async def test_auto_warehouse_confirms_by_itself_after_the_delay(
    time_skipping_env: WorkflowEnvironment, worker_factory: WorkerFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    sku = unique("SKU")
    await stock_up(sessions, {sku: 1})
    async with worker_factory(mode=WarehouseMode.AUTO, auto_pick_delay_seconds=600) as settings:
        handle = await start(time_skipping_env, settings, make_order({sku: 1}))
        result = await handle.result()
    assert result.status is OrderStatus.COMPLETED
    picked = next(e for e in result.timeline if e.event == "picked")
    listed = next(e for e in result.timeline if e.event == "pick_list_created")
    assert picked.actor == "warehouse:auto"
    assert picked.at - listed.at >= timedelta(seconds=600)


async def test_transient_carrier_failures_are_retried_and_ship_once(
    time_skipping_env: WorkflowEnvironment, worker_factory: WorkerFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The carrier call commits, then the worker 'crashes' twice before reporting back."""
    sku = unique("SKU")
    await stock_up(sessions, {sku: 4})
    real = CarrierActivities(sessions, "orderflow-post")

    @activity.defn(name="book_shipment")
    async def flaky_book_shipment(req: BookShipment) -> ShipmentBooked:
        booked = await real.book_shipment(req)
        if activity.info().attempt <= 2:
            raise RuntimeError("connection reset after commit")
        return booked

    order = make_order({sku: 3})
    async with worker_factory(mode=WarehouseMode.AUTO, replace={"book_shipment": flaky_book_shipment}) as settings:
        result = await (await start(time_skipping_env, settings, order)).result()

    assert result.status is OrderStatus.COMPLETED
    assert await count(sessions, Shipment, order.order_id) == 1
    assert await stock_of(sessions, sku) == (1, 0)  # consumed once, not three times
    assert not result.exceptions


async def test_a_shortage_waits_as_a_backorder_then_parks_the_order_instead_of_failing(
    time_skipping_env: WorkflowEnvironment, worker_factory: WorkerFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    plenty, scarce = unique("SKU"), unique("SKU")
    await stock_up(sessions, {plenty: 10, scarce: 1})
    async with worker_factory(mode=WarehouseMode.AUTO, backorder_window_hours=24) as settings:
        handle = await start(time_skipping_env, settings, make_order({plenty: 2, scarce: 3}))
        await time_skipping_env.sleep(timedelta(hours=1))
        waiting = await handle.query(OrderWorkflow.view)
        await time_skipping_env.sleep(timedelta(hours=24))
        view = await handle.query(OrderWorkflow.view)
        description = await handle.describe()

    # First it waits for stock, holding nothing back from other orders ...
    assert waiting.status is OrderStatus.BACKORDERED
    assert [(line.sku, line.quantity) for line in waiting.backordered] == [(plenty, 2), (scarce, 3)]
    assert not waiting.exceptions
    # ... then, with no stock in the window, it asks a person.
    assert view.status is OrderStatus.NEEDS_ATTENTION
    assert [(e.kind, e.step.value) for e in view.open_exceptions if e.blocking] == [
        (ExceptionKind.STOCK_SHORTAGE, "allocate")
    ]
    assert f"3 x {scarce}" in view.exceptions[-1].message
    assert description.status is not None and description.status.name == "RUNNING"
    assert await stock_of(sessions, plenty) == (10, 0)  # all or nothing: no partial reservation left behind


async def test_unknown_sku_parks_the_order_as_invalid(
    time_skipping_env: WorkflowEnvironment, worker_factory: WorkerFactory
) -> None:
    async with worker_factory() as settings:
        handle = await start(time_skipping_env, settings, make_order({unique("GHOST"): 1}))
        await time_skipping_env.sleep(timedelta(minutes=5))
        view = await handle.query(OrderWorkflow.view)
    assert view.status is OrderStatus.NEEDS_ATTENTION
    assert [e.kind for e in view.exceptions] == [ExceptionKind.ORDER_INVALID]
    assert "is not in the catalog" in view.exceptions[0].message


async def test_a_step_whose_retries_run_out_opens_step_failed(
    time_skipping_env: WorkflowEnvironment, worker_factory: WorkerFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    sku = unique("SKU")
    await stock_up(sessions, {sku: 1})

    @activity.defn(name="create_pick_list")
    async def warehouse_down(_: Any) -> None:
        raise ApplicationError("warehouse system unreachable")

    async with worker_factory(replace={"create_pick_list": warehouse_down}) as settings:
        order = make_order({sku: 1})
        handle = await start(time_skipping_env, settings, order)
        view = await skip_until(
            time_skipping_env, handle, OrderStatus.NEEDS_ATTENTION, timedelta(minutes=1), within=timedelta(hours=1)
        )

    assert view.status is OrderStatus.NEEDS_ATTENTION
    assert [(e.kind, e.step.value) for e in view.exceptions] == [(ExceptionKind.STEP_FAILED, "pick")]
    assert "warehouse system unreachable" in view.exceptions[0].message
    async with sessions() as s:
        row = await orders.get(s, order.order_id)
        assert row is not None and row.status == "needs_attention"
        assert [e.kind for e in await orders.exceptions_of(s, order.order_id)] == ["step_failed"]


async def test_new_orders_run_their_steps_as_local_activities(
    time_skipping_env: WorkflowEnvironment,
    worker_factory: WorkerFactory,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """No activity goes through the server's queues, and OrderStatus is written where the order rests
    (waiting for the warehouse) and from then on. (Orders started with regular activities, before local
    steps, are covered by replaying their recorded histories: tests/workflows/test_replay.py.)"""
    sku = unique("SKU")
    await stock_up(sessions, {sku: 2})
    async with worker_factory(mode=WarehouseMode.MANUAL) as settings:
        handle = await start(time_skipping_env, settings, make_order({sku: 1}))
        view = await skip_until(
            time_skipping_env, handle, OrderStatus.PICKING, timedelta(minutes=1), timedelta(hours=1)
        )
        assert view.fulfilments[0].pick_list is not None
        await handle.signal(OrderWorkflow.confirm_pick, PickConfirmation(view.fulfilments[0].pick_list.pick_list_id))
        result = await handle.result()

    assert result.status is OrderStatus.COMPLETED
    history = (await handle.fetch_history()).events
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    upserts = [
        e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        for e in history
        if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
    ]
    statuses = [json.loads(u[SearchAttribute.ORDER_STATUS].data) for u in upserts if SearchAttribute.ORDER_STATUS in u]
    assert scheduled == []
    assert statuses == ["picking", "shipped", "completed"]
