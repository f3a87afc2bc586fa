"""Record the histories the replay test keeps replaying: `python -m tests.histories.record [name ...]`.

Run it only when a recorded path is added, naming that path (`python -m tests.histories.record
delivered`; `edited` records `returned`, a return of that order, with it; `inbound_late`: a backordered
order warned of late inbound; `edited_again`), or when a patch adds a new way through every path: record
them into a folder of their own
(`python -m tests.histories.record --into lean`). Workflow changes must keep the old files replaying (use
workflow.patched), never re-record to make a failing replay pass.
"""

import asyncio
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from config import Settings, WarehouseMode
from domain.contract import Update, order_workflow_id, return_workflow_id
from domain.deliveries import ShipmentReport
from domain.exceptions import Action
from domain.inbound_eta import InboundNotice
from domain.order_edits import EditOrder, LineChange, RulesAfterEdit
from domain.orders import Address, Customer, Order, OrderLine, OrderStatus
from domain.policy import NewOrder, RuleFiring
from domain.returns import Disposition, NewReturn, ReceivedLine, ReturnDecision, ReturnLine, ReturnReceipt, ReturnView
from domain.steps import (
    CancelRequest,
    ControlRequest,
    HoldRequest,
    OrderView,
    PickConfirmation,
    ResolveException,
    Restock,
    StockLine,
)
from store import catalog, inbound, inventory, migrate, returns
from store.db import create_engine, create_sessions
from tests.conftest import BIN, settings_for, stock_up
from tests.workflows.support import OrderHandle
from worker import build_worker
from workflows import attributes
from workflows.inbound_notice import InboundNoticeWorkflow
from workflows.order import OrderWorkflow
from workflows.restock import RestockWorkflow
from workflows.returns import ReturnWorkflow

HERE = Path(__file__).parent
OUT = HERE
# Recorded together: later ones reuse the stock and warehouses the earlier ones set up.
BEFORE_DELIVERY = ["happy_path", "stock_shortage", "exception_resolved", "cancelled_mid_pick", "split", "backordered"]


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


async def start(client: Client, worker: Settings, new: Order, policy: Settings) -> OrderHandle:
    return await client.start_workflow(
        OrderWorkflow.run,
        NewOrder(new, policy.order_policy(new, datetime.now(UTC))),
        id=order_workflow_id(new.order_id),
        task_queue=worker.task_queue,
    )


async def save(client: Client, handle: WorkflowHandle[OrderWorkflow, OrderView], name: str) -> None:
    history = await client.get_workflow_handle(handle.id).fetch_history()
    (OUT / f"{name}.json").write_text(history.to_json())
    print(f"wrote {name}.json")


async def record_delivered(client: Client, settings: Settings) -> None:
    """Completed, then the carrier reports: handed over, delivered; the order ends `delivered`."""
    handle = await start(client, settings, order("DELIVERED-1", {"TEE": 1}), settings)
    await until(handle, OrderStatus.PICKING)
    view = await handle.query(OrderWorkflow.view)
    assert view.fulfilments[0].pick_list is not None
    await handle.signal(OrderWorkflow.confirm_pick, PickConfirmation(view.fulfilments[0].pick_list.pick_list_id))
    await until(handle, OrderStatus.COMPLETED)
    view = await handle.query(OrderWorkflow.view)
    assert view.fulfilments[0].shipment is not None
    shipment_id = view.fulfilments[0].shipment.shipment_id
    for update, ref in ((Update.SHIPMENT_HANDED_OVER, "acme-post:e1"), (Update.SHIPMENT_DELIVERED, "acme-post:e2")):
        report = ShipmentReport(shipment_id, datetime.now(UTC), "", "partner:acme-post", ref)
        await handle.execute_update(update, report, result_type=OrderView)
    assert (await handle.result()).status is OrderStatus.DELIVERED
    await save(client, handle, "delivered")


async def record_held_outside_api(client: Client, settings: Settings) -> None:
    """Held and released by updates sent straight to the workflow (as the Temporal CLI does, not the API):
    each leaves its audit row through the order's own step; then picked and completed."""
    handle = await start(client, settings, order("OUTSIDE-1", {"TEE": 1}), settings)
    await until(handle, OrderStatus.PICKING)
    await handle.execute_update(Update.HOLD, HoldRequest("checking by hand", "frank"), result_type=OrderView)
    await handle.execute_update(Update.RELEASE, ControlRequest("frank", "checked"), result_type=OrderView)
    view = await handle.query(OrderWorkflow.view)
    assert view.fulfilments[0].pick_list is not None
    await handle.signal(OrderWorkflow.confirm_pick, PickConfirmation(view.fulfilments[0].pick_list.pick_list_id))
    await handle.result()
    await save(client, handle, "held_outside_api")


async def record_edited(client: Client, settings: Settings) -> OrderHandle:
    """Edited before pick: one line's quantity changes (its part is replaced) and a line is added."""
    handle = await start(client, settings, order("EDITED-1", {"TEE": 2}), settings)
    await until(handle, OrderStatus.PICKING)
    edit = EditOrder([LineChange("TEE", 1), LineChange("POSTER", 1, 1500)], actor="erin", reason="customer called")
    await handle.execute_update("edit_order", edit, result_type=OrderView)
    view = await handle.query(OrderWorkflow.view)
    while not (new := [f for f in view.fulfilments if not f.cancelled]) or any(f.pick_list is None for f in new):
        await asyncio.sleep(0.1)
        view = await handle.query(OrderWorkflow.view)
    for fulfilment in new:
        assert fulfilment.pick_list is not None
        await handle.signal(OrderWorkflow.confirm_pick, PickConfirmation(fulfilment.pick_list.pick_list_id))
    assert (await handle.result()).total == 4900 + 1500
    await save(client, handle, "edited")
    return handle


async def record_edited_again(client: Client, settings: Settings) -> None:
    """Edited before pick twice: the ship-by promise moved (the promise watch re-arms: `ship-by-edits`),
    then a line changed with the business rules' decision (a gift added, a tag, a hold: `edit-rules`);
    released, picked, completed."""
    handle = await start(client, settings, order("EDITED-2", {"TEE": 1}), settings)
    await until(handle, OrderStatus.PICKING)
    later = datetime.now(UTC) + timedelta(days=5)
    await handle.execute_update(
        "edit_order", EditOrder(ship_by=later, actor="erin", reason="agreed"), result_type=OrderView
    )
    rules = RulesAfterEdit(
        hold_reason="check large order",
        tags=["large"],
        firings=[RuleFiring("9@1", "Large order", ["tagged large", "held: check large order"])],
        summary="after the edit: gift POSTER x 1 added; rule 9 v1 'Large order' tagged large, held: check large order",
    )
    edit = EditOrder([LineChange("TEE", 2), LineChange("POSTER", 1, 0, gift=True)], actor="erin", rules=rules)
    view = await handle.execute_update("edit_order", edit, result_type=OrderView)
    assert view.hold is not None and view.tags == ["large"]
    await handle.execute_update(Update.RELEASE, ControlRequest("carol", "checked"), result_type=OrderView)
    while not (new := [f for f in view.fulfilments if not f.cancelled]) or any(f.pick_list is None for f in new):
        await asyncio.sleep(0.1)
        view = await handle.query(OrderWorkflow.view)
    for fulfilment in new:
        assert fulfilment.pick_list is not None
        await handle.signal(OrderWorkflow.confirm_pick, PickConfirmation(fulfilment.pick_list.pick_list_id))
    result = await handle.result()
    assert result.total == 2 * 4900 and result.ship_by == later
    await save(client, handle, "edited_again")


async def record_returned(
    client: Client, settings: Settings, sessions: async_sessionmaker[AsyncSession], order_id: str
) -> None:
    """A return of the edited order: approved, received (one restocked, one damaged), refunded, closed."""
    policy = settings.return_policy()
    new = NewReturn(
        "RMA-RECORDED1",
        order_id,
        "CNY",
        [ReturnLine("TEE", 1, "too small"), ReturnLine("POSTER", 1)],
        "",
        "erin",
        policy,
    )
    async with sessions.begin() as session:
        assert not await returns.create(session, new, timedelta(days=30))
    handle = await client.start_workflow(
        ReturnWorkflow.run, new, id=return_workflow_id(new.return_id), task_queue=settings.task_queue
    )
    await handle.execute_update("approve_return", ReturnDecision("erin"), result_type=ReturnView)
    receipt = ReturnReceipt(
        "RCV-1", [ReceivedLine("TEE", 1, Disposition.RESTOCK), ReceivedLine("POSTER", 1, Disposition.DAMAGED)], "MAIN"
    )
    await handle.execute_update("receive_return", receipt, result_type=ReturnView)
    assert (await handle.result()).refunded == 4900 + 1500
    history = await handle.fetch_history()
    (OUT / "returned.json").write_text(history.to_json())
    print("wrote returned.json")


async def record_inbound_late(
    client: Client, settings: Settings, policy: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Backordered; inbound announced after ship-by (warned with its date), moved back in time (the
    warning clears); the receipt against it wakes the order, which completes."""
    async with sessions.begin() as session:
        await catalog.put_product(session, "CLOCK", "Clock", 5900, "CNY", True)
    handle = await start(client, settings, order("INBOUND-1", {"CLOCK": 2}), policy)
    await until(handle, OrderStatus.BACKORDERED)
    view = await handle.query(OrderWorkflow.view)
    assert view.ship_by is not None

    async def tell(expected_at: datetime, version: str) -> None:
        async with sessions.begin() as session:
            found = await inbound.by_reference(session, "MAIN", "PO-CLOCK")
            if found is None:
                found, _ = await inbound.create(
                    session, "MAIN", "PO-CLOCK", expected_at, [StockLine("CLOCK", 5)], "manual", "erin"
                )
            else:
                await inbound.reschedule(session, found, expected_at)
            inbound_id = found.row.inbound_id
        await client.execute_workflow(
            InboundNoticeWorkflow.run,
            InboundNotice(inbound_id, ["CLOCK"]),
            id=f"inbound-{inbound_id}-{version}",
            task_queue=settings.task_queue,
        )

    def warnings(view: OrderView) -> int:
        return len([e for e in view.exceptions if e.is_open])

    await tell(view.ship_by + timedelta(days=2), "1")
    while not warnings(await handle.query(OrderWorkflow.view)):
        await asyncio.sleep(0.1)
    await tell(view.ship_by - timedelta(days=1), "2")
    while warnings(await handle.query(OrderWorkflow.view)):
        await asyncio.sleep(0.1)
    async with sessions.begin() as session:
        await inventory.receive(session, "MAIN", [StockLine("CLOCK", 5)], "PO-CLOCK")
    await client.execute_workflow(
        RestockWorkflow.run,
        Restock("receipt-clock", "MAIN", ["CLOCK"]),
        id="restock-receipt-clock",
        task_queue=settings.task_queue,
    )
    await until(handle, OrderStatus.PICKING)
    view = await handle.query(OrderWorkflow.view)
    assert view.fulfilments[0].pick_list is not None
    await handle.signal(OrderWorkflow.confirm_pick, PickConfirmation(view.fulfilments[0].pick_list.pick_list_id))
    await handle.result()
    await save(client, handle, "inbound_late")


async def main(names: list[str]) -> None:
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
            # A short delivery window, so orders nobody reports delivered still close (and result() returns).
            settings = settings_for(
                url, mode=WarehouseMode.MANUAL, backorder_window_hours=0, delivery_window_days=2 / 86400
            )
            async with build_worker(env.client, settings, sessions):
                if "delivered" in names:
                    await record_delivered(env.client, settings)
                if "inbound_late" in names:
                    policy = settings_for(url, backorder_window_hours=24, delivery_window_days=2 / 86400)
                    await record_inbound_late(env.client, settings, policy, sessions)
                if "edited_again" in names:
                    await record_edited_again(env.client, settings)
                if "held_outside_api" in names:
                    await record_held_outside_api(env.client, settings)
                if "edited" in names or "returned" in names:
                    edited = await record_edited(env.client, settings)
                    await record_returned(env.client, settings, sessions, edited.id.removeprefix("order-"))
                if not set(names) & set(BEFORE_DELIVERY):
                    return
                happy = order("HAPPY-1", {"TEE": 2})
                handle = await env.client.start_workflow(
                    OrderWorkflow.run,
                    NewOrder(happy, settings.order_policy(happy, datetime.now(UTC))),
                    id=order_workflow_id(happy.order_id),
                    task_queue=settings.task_queue,
                )
                await until(handle, OrderStatus.PICKING)
                view = await handle.query(OrderWorkflow.view)
                assert view.fulfilments and view.fulfilments[0].pick_list is not None
                await handle.signal(
                    OrderWorkflow.confirm_pick, PickConfirmation(view.fulfilments[0].pick_list.pick_list_id, "alice")
                )
                await handle.result()
                await save(env.client, handle, "happy_path")

                short = order("SHORT-1", {"POSTER": 5})
                handle = await env.client.start_workflow(
                    OrderWorkflow.run,
                    NewOrder(short, settings.order_policy(short, datetime.now(UTC))),
                    id=order_workflow_id(short.order_id),
                    task_queue=settings.task_queue,
                )
                await until(handle, OrderStatus.NEEDS_ATTENTION)
                await save(env.client, handle, "stock_shortage")

                # The same shortage, resolved: stock arrives, a person retries, the order completes.
                async with sessions.begin() as session:
                    await inventory.count(session, "MAIN", "POSTER", 10, "count")
                view = await handle.query(OrderWorkflow.view)
                retry = ResolveException(view.exceptions[0].exception_id, Action.RETRY, "carol", "stock counted")
                await handle.execute_update(Update.RESOLVE_EXCEPTION, retry, result_type=OrderView)
                await until(handle, OrderStatus.PICKING)
                view = await handle.query(OrderWorkflow.view)
                assert view.fulfilments and view.fulfilments[0].pick_list is not None
                await handle.signal(
                    OrderWorkflow.confirm_pick, PickConfirmation(view.fulfilments[0].pick_list.pick_list_id)
                )
                await handle.result()
                await save(env.client, handle, "exception_resolved")

                handle = await start(env.client, settings, order("CANCEL-1", {"TEE": 1}), settings)
                await until(handle, OrderStatus.PICKING)
                await handle.execute_update(
                    "cancel", CancelRequest("customer changed mind", "dan"), result_type=OrderView
                )
                await handle.result()
                await save(env.client, handle, "cancelled_mid_pick")

                # Split: no one warehouse has both lines, so two pick lists, two parcels, two invoices.
                async with sessions.begin() as session:
                    await catalog.put_warehouse(session, "NORTH", "North", "CN", "BJ", 50)
                    await catalog.put_product(session, "LAMP", "Lamp", 9900, "CNY", True)
                    await inventory.count(session, "NORTH", "LAMP", 5, "count")
                split = order("SPLIT-1", {"TEE": 1, "LAMP": 1})
                handle = await start(env.client, settings, split, settings)
                for _ in range(2):
                    await until(handle, OrderStatus.PICKING)
                    view = await handle.query(OrderWorkflow.view)
                    for fulfilment in view.fulfilments:
                        assert fulfilment.pick_list is not None
                        await handle.signal(
                            OrderWorkflow.confirm_pick, PickConfirmation(fulfilment.pick_list.pick_list_id)
                        )
                await handle.result()
                await save(env.client, handle, "split")

                # Backordered: nothing in stock; a receipt wakes the order and it completes.
                waiting = order("BACKORDER-1", {"LAMP": 10})
                policy = settings_for(url, backorder_window_hours=24, delivery_window_days=2 / 86400)
                handle = await start(env.client, settings, waiting, policy)
                await until(handle, OrderStatus.BACKORDERED)
                async with sessions.begin() as session:
                    await inventory.receive(session, "NORTH", [StockLine("LAMP", 10)], "ASN-1")
                await env.client.execute_workflow(
                    RestockWorkflow.run,
                    Restock("receipt-1", "NORTH", ["LAMP"]),
                    id="restock-receipt-1",
                    task_queue=settings.task_queue,
                )
                await until(handle, OrderStatus.PICKING)
                view = await handle.query(OrderWorkflow.view)
                assert view.fulfilments[0].pick_list is not None
                await handle.signal(
                    OrderWorkflow.confirm_pick, PickConfirmation(view.fulfilments[0].pick_list.pick_list_id)
                )
                await handle.result()
                await save(env.client, handle, "backordered")
        finally:
            await env.shutdown()
            await engine.dispose()


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--into"]:
        OUT = HERE / args[1]
        OUT.mkdir(exist_ok=True)
        args = args[2:]
    asyncio.run(main(args or [*BEFORE_DELIVERY, "delivered"]))
