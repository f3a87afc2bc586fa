"""Composition root of the worker: settings → engine → activities → Temporal worker."""

import asyncio
import signal
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from activities.billing import BillingActivities
from activities.carrier import CarrierActivities
from activities.deliveries import DeliveryActivities
from activities.inventory import InventoryActivities
from activities.orders import OrderActivities
from activities.warehouse import WarehouseActivities
from config import Settings, WarehouseMode, configure_logging, get_settings
from store.db import create_engine, create_sessions
from workflows.order import OrderWorkflow
from workflows.restock import RestockWorkflow

log = structlog.get_logger(__name__)

WORKFLOWS: Sequence[type] = (OrderWorkflow, RestockWorkflow)


def build_activities(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> list[Any]:
    auto_after = settings.auto_pick_delay_seconds if settings.warehouse_mode is WarehouseMode.AUTO else None
    orders = OrderActivities(sessions)
    inventory = InventoryActivities(sessions)
    warehouse = WarehouseActivities(sessions, auto_after)
    carrier = CarrierActivities(sessions, settings.carrier_name)
    billing = BillingActivities(sessions)
    deliveries = DeliveryActivities(sessions)
    return [
        orders.confirm_order,
        orders.project_order,
        orders.cancel_order,
        inventory.reserve_stock,
        inventory.waiting_orders,
        warehouse.create_pick_list,
        carrier.book_shipment,
        billing.issue_invoice,
        deliveries.record_delivery,
    ]


def build_worker(client: Client, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Worker:
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=list(WORKFLOWS),
        activities=build_activities(settings, sessions),
        max_concurrent_activities=50,
        # On SIGTERM, let running steps finish; whatever does not is retried by the next worker.
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


async def run(settings: Settings) -> None:
    engine = create_engine(settings.resolved_database_url)
    client = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with build_worker(client, settings, create_sessions(engine)):
            log.info("worker running", task_queue=settings.task_queue, warehouse_mode=settings.warehouse_mode.value)
            await stop.wait()
            log.info("worker stopping: finishing the tasks in hand")
    finally:
        await engine.dispose()


def main() -> None:
    settings = get_settings()
    configure_logging(settings)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
