"""The order's own steps: confirm, approval, allocation (and waiting for stock), and compensation when it
is cancelled. Each planned shipment is handed to its own fulfilment task."""

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import FailureError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.inventory import InventoryActivities
    from activities.orders import OrderActivities
    from domain.contract import Signal, WorkflowType, restock_workflow_id
    from domain.exceptions import Blocker, ExceptionKind
    from domain.order_changes import OrderChanges
    from domain.order_controls import OrderControls
    from domain.order_edits import EditOrder
    from domain.order_state import OrderState
    from domain.orders import OrderStatus, Priority, Step
    from domain.steps import (
        CancelOrder,
        CancelRequest,
        ConfirmOrder,
        Fulfilment,
        OrderView,
        ProjectOrder,
        ReleaseRemainder,
        ReserveStock,
        Restock,
        describe_missing,
    )

from workflows.order.attention import Attention
from workflows.order.commands import (
    PROJECTION_RETRY,
    PROJECTION_TIMEOUT,
    STEP_RETRY,
    Cancelled,
    Commands,
    refusals_answered,
    within,
)
from workflows.order.fulfilment import Fulfilling


class Flow:
    def __init__(self, state: OrderState, commands: Commands, attention: Attention) -> None:
        self._state = state
        self._commands = commands
        self._attention = attention
        self._fulfilling = Fulfilling(state, commands, attention)
        self._tasks: list[asyncio.Task[None]] = []  # one per fulfilment

    async def confirm(self) -> Blocker | None:
        state, commands = self._state, self._commands
        async with commands.writes:
            confirmed = await commands.execute(
                OrderActivities.confirm_order,
                ConfirmOrder(
                    state.order,
                    state.received_at,
                    state.policy.ship_by,
                    seq=state.next_seq(),
                    rules=state.policy.rules,
                ),
                start_to_close_timeout=timedelta(seconds=15),
                retry_policy=STEP_RETRY,
            )
        if not confirmed.ok:
            return Blocker(ExceptionKind.ORDER_INVALID, "; ".join(confirmed.problems))
        state.confirmed(workflow.now())
        commands.publish()
        return None

    async def hold_by_rule(self) -> None:
        """A business rule put the order on hold. Orders without such a rule issue no command here."""
        hold = self._state.held_by_rule(workflow.now())
        if hold is None:
            return
        entry = OrderControls(self._state).put_on_hold(workflow.now(), hold)
        if hold.until is not None:
            self._attention.spawn(self._attention.expire_hold(hold))
        await self._commands.project([entry])

    async def await_approval(self) -> Blocker | None:
        state = self._state
        if state.approved is None and not state.policy.needs_approval(state.order.total):
            return None
        if state.approved is None:
            entry = state.ask_approval(workflow.now())
            if entry is not None:
                await self._commands.project([entry])
            self._commands.show(Step.APPROVE, "waiting for a person to approve")
            decided = await within(
                timedelta(seconds=state.policy.approval_sla_s),
                lambda: state.approved is not None or state.cancel is not None,
            )
            if not decided:
                return Blocker(
                    ExceptionKind.APPROVAL_OVERDUE,
                    f"no approval within {timedelta(seconds=state.policy.approval_sla_s)}",
                    clears=lambda: state.approved is not None,
                )
        return None

    async def allocate(self, replacing: list[Fulfilment] | None = None) -> Blocker | None:
        """Plan and reserve what is still unallocated; each planned shipment starts its own fulfilment.
        `replacing`: parts an edit dropped, released in the same transaction."""
        state, commands = self._state, self._commands
        replacing = replacing or []
        state.allocation_attempts += 1
        async with commands.writes:
            result = await commands.execute(
                InventoryActivities.reserve_stock,
                ReserveStock(
                    state.order_id,
                    state.waiting,
                    state.ship_to,
                    rush=state.order.priority is Priority.RUSH,
                    received_at=state.received_at,
                    first_allocation=len(state.fulfilments) + 1,
                    attempt=state.allocation_attempts,
                    seq=state.next_seq(),
                    allow_split=state.policy.allow_split,
                    allow_partial=state.allow_partial,
                    route=state.policy.route,
                    route_only=state.policy.route_only,
                    optional=[line.sku for line in state.lines if line.gift and not line.gift_required],
                    replaces=[f.allocation.allocation_id for f in replacing],
                    replaces_pick_lists=[f.pick_list.pick_list_id for f in replacing if f.pick_list is not None],
                ),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=STEP_RETRY,
            )
        for fulfilment in state.allocated(workflow.now(), result):
            self._tasks.append(asyncio.create_task(self._fulfilling.fulfil(fulfilment)))
        projected = OrderStatus.ALLOCATED if result.allocations else OrderStatus.BACKORDERED
        if state.status() is not projected:  # other shipments of this order are further along
            await commands.project([])
        commands.publish()
        return None

    async def await_stock(self) -> Blocker | None:
        """Backordered: wait for a receipt (or a person), then try again; past the window, ask a person."""
        state = self._state
        if not state.waiting:  # the remainder was cancelled while a person looked at the shortage
            return None
        if not state.allocate_now and not state.restocks:
            assert state.waiting_since is not None
            deadline = state.waiting_since + timedelta(seconds=state.policy.backorder_window_s)
            self._commands.show(Step.ALLOCATE, f"backordered: waiting for {describe_missing(state.waiting)}")
            arrived = await within(
                deadline - workflow.now(),
                lambda: bool(state.restocks) or state.allocate_now or state.cancel is not None or not state.waiting,
            )
            if state.cancel is not None:
                raise Cancelled
            if not state.waiting:  # the remainder was cancelled: nothing left to wait for
                return None
            if not arrived:
                window = timedelta(seconds=state.policy.backorder_window_s)
                return Blocker(
                    ExceptionKind.STOCK_SHORTAGE,
                    f"no stock within {window} for {describe_missing(state.waiting)}",
                    clears=lambda: bool(state.restocks),
                )
        asked_by_person, state.allocate_now = state.allocate_now, False
        restocks, state.restocks = state.restocks, []
        await self.allocate()
        if asked_by_person and state.waiting:
            state.waiting_since = workflow.now()  # a fresh window after a person's retry
        await self.answer_restocks(restocks)
        return None

    async def answer_restocks(self, restocks: list[str]) -> None:
        for restock in restocks:
            with contextlib.suppress(FailureError):  # that receipt stopped listening; nothing to tell
                await workflow.get_external_workflow_handle(restock).signal(
                    Signal.ALLOCATION_ATTEMPTED.value, self._state.order_id
                )

    async def fulfilled(self) -> None:
        """Wait for every fulfilment, those an edit adds meanwhile too; the first that failed (a cancel
        unwinding it) is raised."""
        waited = 0
        while waited < len(self._tasks):
            tasks, waited = self._tasks[waited:], len(self._tasks)
            for outcome in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(outcome, BaseException):
                    raise outcome

    def all_fulfilled(self) -> bool:
        return all(task.done() for task in self._tasks)

    async def stopped(self) -> None:
        """Wait for every fulfilment to stop at its checkpoint."""
        waited = 0
        while waited < len(self._tasks):
            tasks, waited = self._tasks[waited:], len(self._tasks)
            await asyncio.gather(*tasks, return_exceptions=True)

    async def edit(self, req: EditOrder) -> OrderView:
        """Apply an edit: the read model gets the new lines; parts it replaces are dropped and what the
        edited lines need is reserved again in one transaction with their release."""
        state, commands = self._state, self._commands
        changes = OrderChanges(state)
        async with commands.writes:
            with refusals_answered():  # again: a pick may have been confirmed while this waited its turn
                edited = changes.edit(workflow.now(), req)
            commands.publish()
            plan = edited.plan
            projection = ProjectOrder(
                state.order_id,
                state.status(),
                edited.entries,
                edited.closed,
                at_risk=state.at_risk,
                seq=state.next_seq(),
                lines=plan.lines,
                priority=plan.priority,
                ship_by=plan.ship_by,
            )
            if edited.reallocate and not state.waiting:  # nothing to reserve: only give back
                dropped = plan.dropped
                await commands.execute(
                    OrderActivities.release_remainder,
                    ReleaseRemainder(
                        state.order_id,
                        [f.allocation.allocation_id for f in dropped],
                        [f.pick_list.pick_list_id for f in dropped if f.pick_list is not None],
                        f"order edited: {req.reason}".rstrip(": "),
                        projection,
                    ),
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=PROJECTION_RETRY,
                )
            else:
                await commands.execute(
                    OrderActivities.project_order,
                    projection,
                    start_to_close_timeout=PROJECTION_TIMEOUT,
                    retry_policy=PROJECTION_RETRY,
                )
        if state.editing:
            try:
                await self.allocate(replacing=plan.dropped)
            finally:
                state.editing = False
        skus = sorted({line.sku for line in plan.to_release})
        if skus:
            await self._wake_waiting(f"edit-{state.order_id}-{len(state.timeline)}", skus)
        return state.view()

    async def await_cancel(self, req: CancelRequest) -> OrderView:
        state = self._state
        state.cancel = req
        await workflow.wait_condition(
            lambda: state.progress is OrderStatus.CANCELLED and not self._commands.writes.locked()
        )
        return state.view()

    async def cancel_remainder(self, req: CancelRequest) -> OrderView:
        """Drop what has not shipped of a partly shipped order: its pick lists close, its stock goes back
        (waking orders that wait for it), and the order completes with what shipped."""
        state, commands = self._state, self._commands
        changes = OrderChanges(state)
        async with commands.writes:
            with refusals_answered():  # again: a pick may have been confirmed while this waited its turn
                changes.check_cancel_remainder(req)
            done = changes.cancel_remainder(workflow.now(), req)
            commands.publish()
            fulfilments = done.remainder.fulfilments
            await commands.execute(
                OrderActivities.release_remainder,
                ReleaseRemainder(
                    state.order_id,
                    [f.allocation.allocation_id for f in fulfilments],
                    [f.pick_list.pick_list_id for f in fulfilments if f.pick_list is not None],
                    req.reason,
                    ProjectOrder(
                        state.order_id,
                        state.status(),
                        done.entries,
                        done.closed,
                        at_risk=state.at_risk,
                        seq=state.next_seq(),
                    ),
                ),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=PROJECTION_RETRY,
            )
        skus = sorted({line.sku for f in fulfilments for line in f.allocation.lines})
        if skus:
            await self._wake_waiting(f"remainder-{state.order_id}", skus)
        return state.view()

    async def _wake_waiting(self, source: str, skus: list[str]) -> None:
        """Stock given back may be what other orders wait for: wake them as a receipt would."""
        await workflow.start_child_workflow(
            WorkflowType.RESTOCK.value,
            Restock(source, "", skus),
            id=restock_workflow_id(source),
            parent_close_policy=ParentClosePolicy.ABANDON,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )

    async def compensate(self) -> None:
        """Undo in reverse: the pick list, then the reservation; close what is open."""
        state = self._state
        assert state.cancel is not None
        entries, closed = state.cancelled(workflow.now())
        async with self._commands.writes:
            await self._commands.execute(
                OrderActivities.cancel_order,
                CancelOrder(
                    state.order_id,
                    state.cancel.reason,
                    ProjectOrder(
                        state.order_id, OrderStatus.CANCELLED, entries, closed, at_risk=False, seq=state.next_seq()
                    ),
                ),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=PROJECTION_RETRY,
            )
        workflow.set_current_details(f"**Cancelled** · {state.cancel.reason}")
        released = state.released_skus()
        if released:
            await self._wake_waiting(f"release-{state.order_id}", released)
