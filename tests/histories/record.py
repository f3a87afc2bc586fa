"""Record the histories the replay test keeps replaying: `python -m tests.histories.record`.

Run it only when a recorded path is added; workflow changes must keep the old files replaying
(use workflow.patched), never re-record to make a failing replay pass.
"""

import asyncio
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from config import WarehouseMode
from domain.exceptions import Action
from domain.orders import Address, Customer, Order, OrderLine, OrderStatus, workflow_id_for
from domain.policy import NewOrder
from domain.steps import CancelRequest, OrderView, PickConfirmation, ResolveException
from store import catalog, migrate
from store.db import create_engine, create_sessions
from tests.conftest import BIN, settings_for, stock_up
from worker import build_worker
from workflows import attributes
from workflows.order import OrderWorkflow

HERE = Path(__file__).parent


def order(external_id: str, lines: dict[str, int]) -> Order:
    return Order(
        channel="web",
        external_id=external_id,
        customer=Customer("C-1", "Li Wei", "li.wei@example.com"),
        ship_to=Address("Li Wei", "88 Century Ave", "Shanghai", "200120", "CN"),
        lines=[OrderLine(sku, qty, 4900) for sku, qty in lines.items()],
        currency="CNY",
    )


async def until(handle: WorkflowHandle[OrderWorkflow, OrderView], status: OrderStatus) -> None:
    while (await handle.query(OrderWorkflow.view)).status is not status:
        await asyncio.sleep(0.1)


async def save(client: Client, handle: WorkflowHandle[OrderWorkflow, OrderView], name: str) -> None:
    history = await client.get_workflow_handle(handle.id).fetch_history()
    (HERE / f"{name}.json").write_text(history.to_json())
    print(f"wrote {name}.json")


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/orderflow.db"
        await asyncio.to_thread(migrate.upgrade, url)
        engine = create_engine(url)
        sessions: async_sessionmaker[AsyncSession] = create_sessions(engine)
        await stock_up(sessions, {"TEE": 10, "POSTER": 1})
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(BIN / "temporal"), search_attributes=attributes.ALL
        )
        try:
            settings = settings_for(url, mode=WarehouseMode.MANUAL)
            async with build_worker(env.client, settings, sessions):
                happy = order("HAPPY-1", {"TEE": 2})
                handle = await env.client.start_workflow(
                    OrderWorkflow.run,
                    NewOrder(happy, settings.order_policy(happy, datetime.now(UTC))),
                    id=workflow_id_for(happy.order_id),
                    task_queue=settings.task_queue,
                )
                await until(handle, OrderStatus.PICKING)
                view = await handle.query(OrderWorkflow.view)
                assert view.pick_list is not None
                await handle.signal(OrderWorkflow.confirm_pick, PickConfirmation(view.pick_list.pick_list_id, "alice"))
                await handle.result()
                await save(env.client, handle, "happy_path")

                short = order("SHORT-1", {"POSTER": 5})
                handle = await env.client.start_workflow(
                    OrderWorkflow.run,
                    NewOrder(short, settings.order_policy(short, datetime.now(UTC))),
                    id=workflow_id_for(short.order_id),
                    task_queue=settings.task_queue,
                )
                await until(handle, OrderStatus.NEEDS_ATTENTION)
                await save(env.client, handle, "stock_shortage")

                # The same shortage, resolved: stock arrives, a person retries, the order completes.
                async with sessions.begin() as session:
                    await catalog.set_on_hand(session, "MAIN", "POSTER", 10)
                view = await handle.query(OrderWorkflow.view)
                retry = ResolveException(view.exceptions[0].exception_id, Action.RETRY, "carol", "stock counted")
                await handle.execute_update("resolve_exception", retry, result_type=OrderView)
                await until(handle, OrderStatus.PICKING)
                view = await handle.query(OrderWorkflow.view)
                assert view.pick_list is not None
                await handle.signal(OrderWorkflow.confirm_pick, PickConfirmation(view.pick_list.pick_list_id))
                await handle.result()
                await save(env.client, handle, "exception_resolved")

                cancelled = order("CANCEL-1", {"TEE": 1})
                handle = await env.client.start_workflow(
                    OrderWorkflow.run,
                    NewOrder(cancelled, settings.order_policy(cancelled, datetime.now(UTC))),
                    id=workflow_id_for(cancelled.order_id),
                    task_queue=settings.task_queue,
                )
                await until(handle, OrderStatus.PICKING)
                await handle.execute_update(
                    "cancel", CancelRequest("customer changed mind", "dan"), result_type=OrderView
                )
                await handle.result()
                await save(env.client, handle, "cancelled_mid_pick")
        finally:
            await env.shutdown()
            await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
