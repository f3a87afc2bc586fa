"""The ship-by promise, watched: warn (an `sla_at_risk` warning) before it is in danger, record the breach
if it is broken — by the promise as it stands. An edit may move it (`OrderChanges._move_promise`): the
watch then re-arms its timers for the new date; a warning the new date would not give yet has been
withdrawn by the edit and is given again when due.

Orders whose promise never moves run exactly the timers they always did (one to the warning, one to the
breach), so their histories replay unchanged; the re-arming after a move is behind `SHIP_BY_EDITS`.
"""

from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.exceptions import ExceptionKind
    from domain.order_state import OrderState
    from domain.policy import warning_time
    from domain.steps import AlertKind

from workflows.order.attention import Attention
from workflows.order.commands import Commands, within

SHIP_BY_EDITS = "ship-by-edits"


class Promise:
    def __init__(self, state: OrderState, commands: Commands, attention: Attention) -> None:
        self._state = state
        self._commands = commands
        self._attention = attention
        self._moves = 0  # times the promise moved: each breach of a moved promise is an alert of its own

    def _settled(self) -> bool:
        return self._state.all_shipped() or self._state.done

    def _settled_or_moved(self, ship_by: datetime) -> Callable[[], bool]:
        return lambda: self._settled() or self._state.policy.ship_by != ship_by

    async def _until(self, at: datetime, ship_by: datetime) -> bool:
        """Wait until `at`; True when the order settled or its promise moved first."""
        return await within(at - workflow.now(), self._settled_or_moved(ship_by))

    async def keep(self) -> None:
        state = self._state
        while True:
            ship_by = state.policy.ship_by
            broken = False
            if not state.warned:
                warn_at = warning_time(state.received_at, ship_by, timedelta(seconds=state.policy.warn_before_s))
                if await self._until(warn_at, ship_by):
                    if self._settled():
                        return
                    self._moved()
                    continue
                state.warned = True
                self._attention.open(
                    state.current_step(),
                    ExceptionKind.SLA_AT_RISK,
                    f"not shipped yet, due to ship by {ship_by.isoformat()}",
                )
            if not await self._until(ship_by, ship_by):
                broken = True
                breach = f"ship-by {ship_by.isoformat()} passed without a shipment"
                now, alert_id = workflow.now(), f"{state.order_id}:breach" + (f":{self._moves}" if self._moves else "")
                await self._commands.project(
                    [state.note(now, "sla_breached", breach)],
                    alerts=[state.alert(now, alert_id, AlertKind.SLA_BREACHED, breach)],
                )
            if broken:  # nothing to time until the promise moves (or the order settles)
                await workflow.wait_condition(self._settled_or_moved(ship_by))
            if self._settled():
                return
            self._moved()

    def _moved(self) -> None:
        workflow.patched(SHIP_BY_EDITS)
        self._moves += 1
