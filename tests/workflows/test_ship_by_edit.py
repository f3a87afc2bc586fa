"""Moving the ship-by promise with an edit: the at-risk warning and the breach follow the new date."""

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from config import WarehouseMode
from domain.contract import Update
from domain.exceptions import Action, ExceptionKind
from domain.order_edits import EditOrder
from domain.orders import OrderStatus
from domain.steps import OrderView, PickConfirmation
from store.tables import AlertRow, OrderRow
from tests.conftest import stock_up, unique
from tests.workflows.support import WorkerFactory, make_order, start
from workflows.order import OrderWorkflow

LONG_PICK = {"pick_sla_minutes": 30 * 24 * 60}


async def test_a_moved_promise_withdraws_the_warning_then_warns_and_breaches_by_the_new_date(
    time_skipping_env: WorkflowEnvironment, worker_factory: WorkerFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    env, sku = time_skipping_env, unique("SKU")
    await stock_up(sessions, {sku: 2})
    async with worker_factory(mode=WarehouseMode.MANUAL, **LONG_PICK) as settings:  # standard: 72 h promise
        order = make_order({sku: 1})
        handle = await start(env, settings, order)
        await env.sleep(timedelta(hours=24, minutes=10))  # warned 48 h before the 72 h promise
        view = await handle.query(OrderWorkflow.view)
        assert view.at_risk and [e.kind for e in view.open_exceptions] == [ExceptionKind.SLA_AT_RISK]
        first = view.ship_by
        assert first is not None

        now = await env.get_current_time()
        with pytest.raises(WorkflowUpdateFailedError):  # not in the future
            await handle.execute_update(
                Update.EDIT_ORDER, EditOrder(ship_by=now - timedelta(hours=1), reason="x"), result_type=OrderView
            )
        with pytest.raises(WorkflowUpdateFailedError):  # a promise moves with a reason
            await handle.execute_update(
                Update.EDIT_ORDER, EditOrder(ship_by=now + timedelta(days=5)), result_type=OrderView
            )
        new_ship_by = now + timedelta(days=5)  # warned again 3 days from now, breached 5 days from now
        moved = EditOrder(ship_by=new_ship_by, actor="erin", reason="customer agreed to wait")
        view = await handle.execute_update(Update.EDIT_ORDER, moved, result_type=OrderView)
        assert view.ship_by == new_ship_by and not view.at_risk and not view.open_exceptions
        warning = view.exceptions[0]
        assert (warning.kind, warning.resolution, warning.resolved_by) == (
            ExceptionKind.SLA_AT_RISK,
            Action.ACKNOWLEDGE,
            "erin",
        )
        edited = [t for t in view.timeline if t.event == "edited"][-1]
        assert "ship-by" in edited.detail and "customer agreed to wait" in edited.detail and edited.actor == "erin"
        async with sessions() as s:
            row = await s.get(OrderRow, order.order_id)
            assert row is not None and row.ship_by == new_ship_by and not row.at_risk

        await env.sleep(timedelta(days=2, hours=23))  # the old promise has passed: no breach, no warning yet
        view = await handle.query(OrderWorkflow.view)
        assert "sla_breached" not in [t.event for t in view.timeline] and not view.at_risk
        await env.sleep(timedelta(hours=2))  # 48 h before the new promise
        view = await handle.query(OrderWorkflow.view)
        assert view.at_risk and [e.kind for e in view.open_exceptions] == [ExceptionKind.SLA_AT_RISK]
        assert new_ship_by.isoformat() in view.open_exceptions[0].message

        await env.sleep(timedelta(days=2, hours=1))  # the new promise passes
        view = await handle.query(OrderWorkflow.view)
        [breach] = [t for t in view.timeline if t.event == "sla_breached"]
        assert new_ship_by.isoformat() in breach.detail
        async with sessions() as s:
            alerts = (await s.execute(select(AlertRow.alert_id).where(AlertRow.order_id == order.order_id))).scalars()
            assert f"{order.order_id}:breach:1" in set(alerts)

        assert view.fulfilments and view.fulfilments[0].pick_list is not None
        await handle.signal(OrderWorkflow.confirm_pick, PickConfirmation(view.fulfilments[0].pick_list.pick_list_id))
        result = await handle.result()
    assert result.status is OrderStatus.COMPLETED and first != result.ship_by == new_ship_by
