"""After completion the order waits for the carrier: delivered, failed deliveries, and the window passing."""

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from config import WarehouseMode
from domain.contract import Update
from domain.deliveries import ShipmentReport
from domain.exceptions import Action, ExceptionKind
from domain.orders import OrderStatus
from domain.steps import OrderView, ResolveException
from store import orders
from store.tables import OrderExceptionRow, Shipment
from tests.conftest import stock_up, unique
from tests.workflows.support import OrderHandle, WorkerFactory, make_order, start
from workflows.order import OrderWorkflow


async def completed(handle: OrderHandle, status: OrderStatus = OrderStatus.COMPLETED) -> OrderView:
    for _ in range(600):
        view = await handle.query(OrderWorkflow.view)
        if view.status is status:
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"never {status}: {view.status}")


async def report(handle: OrderHandle, update: Update, shipment_id: str, detail: str = "", ref: str = "") -> OrderView:
    at = datetime.now(UTC)
    result: OrderView = await handle.execute_update(
        update, ShipmentReport(shipment_id, at, detail, "partner:acme-post", ref), result_type=OrderView
    )
    return result


def shipment_of(view: OrderView) -> str:
    [fulfilment] = view.fulfilments
    assert fulfilment.shipment is not None
    return fulfilment.shipment.shipment_id


async def test_handed_over_then_delivered_makes_the_order_delivered_and_closes_it(
    time_skipping_env: WorkflowEnvironment, worker_factory: WorkerFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    sku = unique("DLV")
    await stock_up(sessions, {sku: 5})
    order = make_order({sku: 1})
    async with worker_factory(mode=WarehouseMode.AUTO) as settings:
        handle = await start(time_skipping_env, settings, order)
        shipment_id = shipment_of(await completed(handle))

        handed = await report(handle, Update.SHIPMENT_HANDED_OVER, shipment_id, ref="acme-post:e1")
        assert handed.status is OrderStatus.COMPLETED and handed.fulfilments[0].handed_over_at is not None
        again = await report(handle, Update.SHIPMENT_HANDED_OVER, shipment_id, ref="acme-post:e1-resent")
        assert len(again.timeline) == len(handed.timeline)  # one handover per shipment

        delivered = await report(handle, Update.SHIPMENT_DELIVERED, shipment_id, "Li Wei", ref="acme-post:e2")
        assert delivered.status is OrderStatus.DELIVERED
        result = await handle.result()  # the workflow ends once every shipment is delivered

    assert result.status is OrderStatus.DELIVERED
    assert [e.event for e in result.timeline][-3:] == ["invoiced", "handed_to_carrier", "delivered"]
    assert result.timeline[-1].actor == "partner:acme-post" and result.timeline[-2].detail == shipment_id
    assert result.fulfilments[0].received_by == "Li Wei"
    async with sessions() as s:
        row = await s.get(Shipment, shipment_id)
        assert row is not None and row.delivered_at is not None and row.handed_over_at is not None
        assert row.received_by == "Li Wei"
        recorded = await orders.get(s, order.order_id)
        assert recorded is not None and recorded.status == "delivered"
        events = [e.event for e in await orders.timeline_of(s, order.order_id)]
    assert events.count("handed_to_carrier") == 1 and events.count("delivered") == 1


async def test_a_failed_delivery_needs_a_person_and_clears_when_delivered(
    time_skipping_env: WorkflowEnvironment, worker_factory: WorkerFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    sku = unique("DLV")
    await stock_up(sessions, {sku: 5})
    order = make_order({sku: 1})
    async with worker_factory(mode=WarehouseMode.AUTO) as settings:
        handle = await start(time_skipping_env, settings, order)
        shipment_id = shipment_of(await completed(handle))

        failed = await report(handle, Update.DELIVERY_FAILED, shipment_id, "nobody home", ref="acme-post:f1")
        assert failed.status is OrderStatus.NEEDS_ATTENTION
        [exception] = failed.open_exceptions
        assert exception.kind is ExceptionKind.DELIVERY_FAILED and "nobody home" in exception.message
        assert exception.allowed_actions == [Action.RETRY, Action.ACKNOWLEDGE]
        resent = await report(handle, Update.DELIVERY_FAILED, shipment_id, "nobody home", ref="acme-post:f1")
        assert len(resent.exceptions) == 1  # the same event again opens nothing more

        # A person: the carrier will try again. The order is done on our side and keeps waiting.
        retried = await handle.execute_update(
            Update.RESOLVE_EXCEPTION,
            ResolveException(exception.exception_id, Action.RETRY, "carol"),
            result_type=OrderView,
        )
        assert retried.status is OrderStatus.COMPLETED and not retried.open_exceptions

        second = await report(handle, Update.DELIVERY_FAILED, shipment_id, "address closed", ref="acme-post:f2")
        assert second.status is OrderStatus.NEEDS_ATTENTION and len(second.open_exceptions) == 1
        await time_skipping_env.sleep(timedelta(hours=3))  # escalated to a manager meanwhile
        delivered = await report(handle, Update.SHIPMENT_DELIVERED, shipment_id, ref="acme-post:d1")
        assert delivered.status is OrderStatus.DELIVERED and not delivered.open_exceptions
        result = await handle.result()

    assert result.status is OrderStatus.DELIVERED
    cleared = result.exceptions[1]
    assert cleared.resolution is Action.RETRY and cleared.resolved_by == "system" and cleared.escalation_level == 2
    async with sessions() as s:
        rows = list(
            (await s.execute(select(OrderExceptionRow).where(OrderExceptionRow.order_id == order.order_id))).scalars()
        )
        recorded = await orders.get(s, order.order_id)
    assert [(r.kind, r.resolution) for r in rows] == [("delivery_failed", "retry"), ("delivery_failed", "retry")]
    assert recorded is not None and recorded.status == "delivered"


async def test_a_failed_delivery_settled_outside_ends_the_wait(
    time_skipping_env: WorkflowEnvironment, worker_factory: WorkerFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    sku = unique("DLV")
    await stock_up(sessions, {sku: 5})
    async with worker_factory(mode=WarehouseMode.AUTO) as settings:
        handle = await start(time_skipping_env, settings, make_order({sku: 1}))
        shipment_id = shipment_of(await completed(handle))
        failed = await report(handle, Update.DELIVERY_FAILED, shipment_id, "refused by the customer")
        await handle.execute_update(
            Update.RESOLVE_EXCEPTION,
            ResolveException(failed.exceptions[0].exception_id, Action.ACKNOWLEDGE, "carol", "returned to sender"),
            result_type=OrderView,
        )
        result = await handle.result()
    assert result.status is OrderStatus.COMPLETED and result.fulfilments[0].returned
    assert "delivery_unconfirmed" not in [e.event for e in result.timeline]


async def test_without_a_delivery_report_the_window_closes_the_order_as_completed(
    time_skipping_env: WorkflowEnvironment, worker_factory: WorkerFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    sku = unique("DLV")
    await stock_up(sessions, {sku: 5})
    async with worker_factory(mode=WarehouseMode.AUTO, delivery_window_days=3) as settings:
        handle = await start(time_skipping_env, settings, make_order({sku: 1}))
        view = await completed(handle)
        await time_skipping_env.sleep(timedelta(days=2))
        assert (await handle.query(OrderWorkflow.view)).status is OrderStatus.COMPLETED  # still waiting
        result = await handle.result()
    last = result.timeline[-1]
    assert result.status is OrderStatus.COMPLETED
    assert last.event == "delivery_unconfirmed" and shipment_of(view) in last.detail
    assert last.at - view.timeline[-1].at >= timedelta(days=3)
