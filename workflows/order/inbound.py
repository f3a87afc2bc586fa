"""While the order is backordered: what inbound stock is due for it and when (its timeline and current
details say), and a `sla_at_risk` warning as soon as that comes after the ship-by promise.

The order reads the open inbound through an activity when it starts waiting, again when told that
inbound for its SKUs changed (`inbound_changed`, sent by the InboundNotice workflow the API starts), and
after each allocation attempt (a receipt may have delivered part of an inbound)."""

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.inventory import InventoryActivities
    from domain.inbound_eta import ExpectedInbound, InboundFor
    from domain.order_inbound import InboundChange, OrderInbound
    from domain.order_state import OrderState
    from domain.orders import Step
    from domain.steps import describe_missing

from workflows.order.attention import Attention
from workflows.order.commands import STEP_FAILED, STEP_RETRY, Commands

# Orders started before backordered orders read their inbound issue no command for it.
INBOUND_ETA = "inbound-eta"


def news_since(state: OrderState) -> Callable[[], bool]:
    """True once, from now, inbound for the order changed, it tried to allocate, or it stopped waiting."""
    nudges, attempts, waiting = state.inbound_nudges, state.allocation_attempts, list(state.waiting)
    return lambda: (
        state.inbound_nudges != nudges
        or state.allocation_attempts != attempts
        or state.waiting != waiting
        or not state.takes_restock()
    )


class InboundWatch:
    def __init__(self, state: OrderState, commands: Commands, attention: Attention) -> None:
        self._state = state
        self._commands = commands
        self._attention = attention
        self._inbound = OrderInbound(state)
        self._watching = False

    def follow(self) -> None:
        """The order waits for stock: watch its inbound until it stops waiting."""
        if self._watching or not workflow.patched(INBOUND_ETA):
            return
        self._watching = True
        self._attention.spawn(self._watch())

    async def _watch(self) -> None:
        state = self._state
        while state.takes_restock():
            news = news_since(state)  # before reading: a nudge during the read reads again
            expected = await self._read()
            if expected is not None and state.takes_restock():
                await self._write(self._inbound.expected(workflow.now(), expected))
                if state.inbound_outlook:
                    self._commands.show(
                        Step.ALLOCATE,
                        f"backordered: waiting for {describe_missing(state.waiting)}; inbound: {state.inbound_outlook}",
                    )
            await workflow.wait_condition(news)
        self._watching = False
        if not state.done:
            await self._write(self._inbound.stopped_waiting(workflow.now()))

    async def _read(self) -> list[ExpectedInbound] | None:
        """The open inbound for what the order waits for; None when it cannot be read now (the next
        nudge or allocation attempt reads again; the backorder window still runs)."""
        try:
            return await self._commands.execute(
                InventoryActivities.expected_inbound,
                InboundFor(self._inbound.skus()),
                start_to_close_timeout=timedelta(seconds=15),
                retry_policy=STEP_RETRY,
            )
        except STEP_FAILED:
            return None

    async def _write(self, change: InboundChange) -> None:
        if change.opened is not None:
            self._attention.attend(change.opened)  # written with its alert; its ladder starts
        if change.entries or change.closed:
            await self._commands.project(change.entries, exceptions=change.closed)
