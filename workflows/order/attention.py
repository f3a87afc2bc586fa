"""When the order needs a person: a step parks on its blocker as an open exception, the exception climbs
its escalation ladder while nobody acts, and a timed hold expires. The ship-by promise is watched in
`promise`."""

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.contract import ErrorType
    from domain.exceptions import Action, Blocker, ExceptionKind, OrderException
    from domain.order_controls import OrderControls
    from domain.order_state import Opened, OrderState
    from domain.orders import Step
    from domain.steps import AlertKind, HoldRequest

from workflows.order.commands import STEP_FAILED, Cancelled, Commands, within


class Attention:
    def __init__(self, state: OrderState, commands: Commands) -> None:
        self._state = state
        self._commands = commands
        self.background: list[asyncio.Task[None]] = []

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self.background.append(asyncio.create_task(work))

    async def step(self, step: Step, attempt: Callable[[], Awaitable[Blocker | None]]) -> None:
        """Run a step until it is done, parking the order on each blocker until a person resolves it."""
        while True:
            await self.checkpoint()
            self._commands.show(step, "working")
            try:
                blocker = await attempt()
            except STEP_FAILED as err:
                # A local activity whose retries ran out after a backoff timer raises its own error.
                cause = err.cause if isinstance(err, ActivityError) else err
                kind = ExceptionKind.STEP_FAILED
                if isinstance(cause, ApplicationError) and cause.type == ErrorType.ADDRESS_REJECTED:
                    kind = ExceptionKind.ADDRESS_REJECTED
                blocker = Blocker(kind, str(cause or err))
            if blocker is None:
                return
            exception = await self.park(step, blocker)
            if exception.resolution is Action.SKIP:
                by = exception.resolved_by or "operations"
                await self._commands.project([self._state.note(workflow.now(), "skipped", step.value, by)])
                return

    async def checkpoint(self) -> None:
        """Between steps: a cancel unwinds, a hold waits."""
        state = self._state
        if state.hold is not None and state.cancel is None:
            self._commands.show(None, f"on hold: {state.hold.reason}")
            await self._commands.project([])  # the step just done wrote its own status; the order is on hold
            await workflow.wait_condition(lambda: state.hold is None or state.cancel is not None)
        if state.cancel is not None:
            raise Cancelled

    async def park(self, step: Step, blocker: Blocker) -> OrderException:
        state = self._state
        exception = self.open(step, blocker.kind, blocker.message)
        self._commands.show(step, f"waiting for a person: {blocker.kind.value}")
        await workflow.wait_condition(
            lambda: (
                not exception.is_open or state.cancel is not None or (blocker.clears is not None and blocker.clears())
            )
        )
        if exception.is_open and blocker.clears is not None and blocker.clears():
            entry = state.close(workflow.now(), exception, Action.RETRY, "system", "cleared by itself")
            await self._commands.project([entry], [exception])
        if state.cancel is not None:
            raise Cancelled
        return exception

    def open(self, step: Step, kind: ExceptionKind, message: str) -> OrderException:
        return self.attend(self._state.open(workflow.now(), step, kind, message))

    def attend(self, opened: Opened) -> OrderException:
        """An exception just opened: write it with its alerts, and start its escalation ladder."""
        self.spawn(self._commands.project([opened.entry], [opened.exception], opened.alerts))
        self.spawn(self._escalate(opened.exception))
        return opened.exception

    async def _escalate(self, exception: OrderException) -> None:
        state = self._state
        ladder = state.policy.ladder(exception.kind)
        rungs = (
            (1, ladder.remind_after_s, AlertKind.EXCEPTION_REMINDER, "reminder to the assignee"),
            (2, ladder.escalate_after_s, AlertKind.EXCEPTION_ESCALATED, "escalated to a manager"),
        )
        for level, after_s, kind, what in rungs:
            if await within(timedelta(seconds=after_s), lambda: not exception.is_open or state.done):
                return
            entry, alert = state.escalated(workflow.now(), exception, level, kind, what)
            await self._commands.project([entry], [exception], [alert])

    async def expire_hold(self, hold: HoldRequest) -> None:
        state = self._state
        assert hold.until is not None
        if not await within(hold.until - workflow.now(), lambda: state.hold is not hold or state.done):
            await self._commands.project([OrderControls(state).release(workflow.now(), "hold expired")])
