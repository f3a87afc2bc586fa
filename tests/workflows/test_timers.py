"""Every timer of the order workflow, with days passing in milliseconds."""

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from config import WarehouseMode
from domain.contract import Update
from domain.exceptions import Action, ExceptionKind
from domain.orders import OrderStatus, Priority
from domain.steps import ControlRequest, HoldRequest, OrderView, PickConfirmation, ResolveException
from store.tables import AlertRow
from tests.conftest import stock_up, unique
from tests.workflows.support import OrderHandle, WorkerFactory, make_order, start
from workflows import attributes
from workflows.order import OrderWorkflow

LONG_PICK = {"pick_sla_minutes": 30 * 24 * 60}  # keep the pick SLA out of the way


async def alerts_of(sessions: async_sessionmaker[AsyncSession], order_id: str) -> list[tuple[str, int]]:
    async with sessions() as s:
        rows = await s.execute(select(AlertRow.kind, AlertRow.level).where(AlertRow.order_id == order_id))
        return sorted((kind, level) for kind, level in rows.all())


async def view_of(handle: OrderHandle) -> OrderView:
    return await handle.query(OrderWorkflow.view)


async def test_an_unattended_exception_reminds_then_escalates(
    time_skipping_env: WorkflowEnvironment, worker_factory: WorkerFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    env, sku = time_skipping_env, unique("SKU")
    await stock_up(sessions, {sku: 0})
    ladder = {"escalation_remind_minutes": 30, "escalation_manager_minutes": 90, "backorder_window_hours": 0}
    async with worker_factory(mode=WarehouseMode.AUTO, **ladder) as settings:
        order = make_order({sku: 1})
        handle = await start(env, settings, order)
        await env.sleep(timedelta(minutes=29))
        assert [e.escalation_level for e in (await view_of(handle)).open_exceptions] == [0]
        await env.sleep(timedelta(minutes=2))
        assert [e.escalation_level for e in (await view_of(handle)).open_exceptions] == [1]
        await env.sleep(timedelta(minutes=90))  # the manager's rung comes 90 minutes after the reminder
        view = await view_of(handle)
    assert [e.escalation_level for e in view.open_exceptions] == [2]
    assert [t.event for t in view.timeline][-2:] == ["exception_reminder", "exception_escalated"]
    assert ("exception_reminder", 1) in await alerts_of(sessions, order.order_id)
    assert ("exception_escalated", 2) in await alerts_of(sessions, order.order_id)


async def test_a_pick_list_not_confirmed_within_its_sla_opens_pick_overdue_which_clears_on_confirmation(
    time_skipping_env: WorkflowEnvironment, worker_factory: WorkerFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    env, sku = time_skipping_env, unique("SKU")
    await stock_up(sessions, {sku: 2})
    async with worker_factory(mode=WarehouseMode.MANUAL) as settings:  # default pick SLA: 4 hours
        handle = await start(env, settings, make_order({sku: 1}))
        await env.sleep(timedelta(hours=3, minutes=59))
        assert (await view_of(handle)).status is OrderStatus.PICKING
        await env.sleep(timedelta(minutes=2))
        view = await view_of(handle)
        assert view.status is OrderStatus.NEEDS_ATTENTION
        assert [e.kind for e in view.open_exceptions] == [ExceptionKind.PICK_OVERDUE]
        assert view.fulfilments and view.fulfilments[0].pick_list is not None

        await handle.signal(
            OrderWorkflow.confirm_pick, PickConfirmation(view.fulfilments[0].pick_list.pick_list_id, "late-larry")
        )
        result = await handle.result()
    assert result.status is OrderStatus.COMPLETED
    overdue = result.exceptions[0]
    assert (overdue.kind, overdue.resolution, overdue.resolved_by) == (
        ExceptionKind.PICK_OVERDUE,
        Action.RETRY,
        "system",
    )


async def test_warned_48_hours_before_ship_by_then_breach_recorded(
    time_skipping_env: WorkflowEnvironment, worker_factory: WorkerFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    env, sku = time_skipping_env, unique("SKU")
    await stock_up(sessions, {sku: 2})
    async with worker_factory(mode=WarehouseMode.MANUAL, **LONG_PICK) as settings:  # standard: 72 h promise
        order = make_order({sku: 1})
        handle = await start(env, settings, order)
        await env.sleep(timedelta(hours=23, minutes=50))
        assert not (await view_of(handle)).at_risk
        await env.sleep(timedelta(minutes=20))
        view = await view_of(handle)
        assert view.at_risk
        assert view.status is OrderStatus.PICKING  # a warning, not a stop
        assert [e.kind for e in view.open_exceptions] == [ExceptionKind.SLA_AT_RISK]
        search = (await handle.describe()).typed_search_attributes
        assert search.get(attributes.AT_RISK) is True and search.get(attributes.HAS_OPEN_EXCEPTION) is True

        await env.sleep(timedelta(hours=49))
        view = await view_of(handle)
        assert "sla_breached" in [t.event for t in view.timeline]
        assert ("sla_breached", 0) in await alerts_of(sessions, order.order_id)
        assert view.fulfilments and view.fulfilments[0].pick_list is not None

        await handle.signal(OrderWorkflow.confirm_pick, PickConfirmation(view.fulfilments[0].pick_list.pick_list_id))
        result = await handle.result()
    assert result.status is OrderStatus.COMPLETED
    assert not result.at_risk and not result.open_exceptions  # shipping settles the warning


async def test_a_rush_order_is_warned_halfway_through_its_short_window(
    time_skipping_env: WorkflowEnvironment, worker_factory: WorkerFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    env, sku = time_skipping_env, unique("SKU")
    await stock_up(sessions, {sku: 2})
    async with worker_factory(mode=WarehouseMode.MANUAL, **LONG_PICK) as settings:  # rush: 24 h promise
        handle = await start(env, settings, make_order({sku: 1}, priority=Priority.RUSH))
        await env.sleep(timedelta(hours=11, minutes=50))
        assert not (await view_of(handle)).at_risk
        await env.sleep(timedelta(minutes=20))
        assert (await view_of(handle)).at_risk


async def test_a_hold_with_an_end_releases_itself(
    time_skipping_env: WorkflowEnvironment, worker_factory: WorkerFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    env, sku = time_skipping_env, unique("SKU")
    await stock_up(sessions, {sku: 2})
    async with worker_factory(mode=WarehouseMode.MANUAL, **LONG_PICK) as settings:
        handle = await start(env, settings, make_order({sku: 1}))
        await env.sleep(timedelta(minutes=1))
        until = await env.get_current_time() + timedelta(hours=2)
        held = await handle.execute_update(
            "hold", HoldRequest("waiting for payment", "erin", until), result_type=OrderView
        )
        assert held.status is OrderStatus.ON_HOLD
        assert held.fulfilments and held.fulfilments[0].pick_list is not None
        await handle.signal(OrderWorkflow.confirm_pick, PickConfirmation(held.fulfilments[0].pick_list.pick_list_id))
        await env.sleep(timedelta(hours=1))
        view = await view_of(handle)
        assert view.status is OrderStatus.ON_HOLD and view.fulfilments[0].shipment is None
        result = await handle.result()
    assert result.status is OrderStatus.COMPLETED
    release = next(t for t in result.timeline if t.event == "released")
    assert release.detail == "hold expired"


async def test_an_approval_not_given_in_time_opens_approval_overdue(
    time_skipping_env: WorkflowEnvironment, worker_factory: WorkerFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    env, sku = time_skipping_env, unique("SKU")
    await stock_up(sessions, {sku: 2})
    async with worker_factory(mode=WarehouseMode.AUTO, approval_sla_minutes=60) as settings:
        handle = await start(env, settings, make_order({sku: 1}), approval_reasons=["big order (rule 1 v1 'big')"])
        await env.sleep(timedelta(minutes=59))
        assert (await view_of(handle)).status is OrderStatus.AWAITING_APPROVAL
        await env.sleep(timedelta(minutes=2))
        view = await view_of(handle)
        assert [e.kind for e in view.open_exceptions] == [ExceptionKind.APPROVAL_OVERDUE]

        # Retry means: keep waiting for the approver; approving then clears it and the order goes on.
        exception_id = view.open_exceptions[0].exception_id
        retry = ResolveException(exception_id, Action.RETRY, "fay")
        await handle.execute_update(Update.RESOLVE_EXCEPTION, retry, result_type=OrderView)
        assert (await view_of(handle)).status is OrderStatus.AWAITING_APPROVAL
        await handle.execute_update(Update.APPROVE, ControlRequest("gus", "ok"), result_type=OrderView)
        result = await handle.result()
    assert result.status is OrderStatus.COMPLETED
    assert [t.actor for t in result.timeline if t.event == "approved"] == ["gus"]


async def test_a_rule_hold_lasts_its_hours_then_releases_itself(
    time_skipping_env: WorkflowEnvironment, worker_factory: WorkerFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A `hold {hours: 6}` rule: the order is confirmed, rests on hold, and goes on by itself after 6 h."""
    env, sku = time_skipping_env, unique("SKU")
    await stock_up(sessions, {sku: 2})
    async with worker_factory(mode=WarehouseMode.AUTO, **LONG_PICK) as settings:
        until = await env.get_current_time() + timedelta(hours=6)
        reason = "PO box address (rule 7 v2 'PO boxes')"
        handle = await start(env, settings, make_order({sku: 1}), hold_reason=reason, hold_until=until)
        await env.sleep(timedelta(hours=5))
        view = await view_of(handle)
        assert view.status is OrderStatus.ON_HOLD and not view.fulfilments
        assert view.hold is not None and view.hold.reason == reason and view.hold.actor == "rules"
        await env.sleep(timedelta(hours=2))
        result = await handle.result()
    assert result.status is OrderStatus.COMPLETED
    events = [t.event for t in result.timeline]
    assert events.index("confirmed") < events.index("held") < events.index("released") < events.index("allocated")
    assert next(t for t in result.timeline if t.event == "released").detail == "hold expired"
