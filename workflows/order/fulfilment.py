"""One fulfilment (a warehouse's share of the order): its own pick list, parcel and invoice, run by its
own task beside the order's other fulfilments."""

from dataclasses import replace
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.billing import BillingActivities
    from activities.carrier import CarrierActivities
    from activities.warehouse import WarehouseActivities
    from domain.contract import ErrorType
    from domain.exceptions import Blocker, ExceptionKind
    from domain.order_state import OrderState
    from domain.orders import OrderLine, Step
    from domain.steps import BookShipment, CreatePickList, Fulfilment, IssueInvoice, PickConfirmation

from workflows.order.attention import Attention
from workflows.order.commands import STEP_FAILED, STEP_RETRY, Cancelled, Commands, within

# A carrier that rejects an address will reject it again: hand it to a person at once.
SHIP_RETRY = replace(STEP_RETRY, non_retryable_error_types=[ErrorType.ADDRESS_REJECTED.value])


class Fulfilling:
    def __init__(self, state: OrderState, commands: Commands, attention: Attention) -> None:
        self._state = state
        self._commands = commands
        self._attention = attention

    async def fulfil(self, fulfilment: Fulfilment) -> None:
        """One planned shipment: its own pick list, parcel and invoice."""
        await self._attention.step(Step.PICK, lambda: self._pick(fulfilment))
        if fulfilment.cancelled:  # cancelled with the order's remainder before it was picked
            return
        await self._attention.step(Step.SHIP, lambda: self._ship(fulfilment))
        await self._attention.step(Step.INVOICE, lambda: self._issue_invoice(fulfilment))

    async def _pick(self, fulfilment: Fulfilment) -> Blocker | None:
        state, commands = self._state, self._commands
        if fulfilment.cancelled:
            return None
        if fulfilment.pick_list is None:
            async with commands.writes:
                if fulfilment.cancelled:  # the remainder was cancelled while this waited its turn
                    return None
                fulfilment.pick_list = await commands.execute(
                    WarehouseActivities.create_pick_list,
                    CreatePickList(
                        state.order_id,
                        fulfilment.allocation,
                        state.status((fulfilment, "picking")),
                        seq=state.next_seq(),
                    ),
                    start_to_close_timeout=timedelta(seconds=15),
                    retry_policy=STEP_RETRY,
                )
            where = f"{fulfilment.pick_list.pick_list_id} in {fulfilment.allocation.warehouse}"
            state.note(workflow.now(), "pick_list_created", where)
            commands.publish()
        pick_list = fulfilment.pick_list
        pick_list_id = pick_list.pick_list_id
        commands.show(Step.PICK, f"waiting for the warehouse to confirm {pick_list_id}")

        def picked() -> bool:
            return pick_list_id in state.pick_confirmations

        def picked_or_cancelled() -> bool:
            return picked() or state.cancel is not None or fulfilment.cancelled

        if state.policy.local_steps and pick_list.auto_confirm_after_seconds != 0 and not picked():
            commands.publish(resting=True)  # the order waits for the warehouse: findable as `picking`
        if pick_list.auto_confirm_after_seconds is not None:
            # The built-in warehouse in auto mode confirms by itself once the delay has passed.
            if pick_list.auto_confirm_after_seconds > 0:
                await within(timedelta(seconds=pick_list.auto_confirm_after_seconds), picked_or_cancelled)
            if state.cancel is None and not fulfilment.cancelled:
                state.pick_confirmations.setdefault(pick_list_id, PickConfirmation(pick_list_id, "warehouse:auto"))
        elif not await within(timedelta(seconds=state.policy.pick_sla_s), picked_or_cancelled):
            sla = timedelta(seconds=state.policy.pick_sla_s)
            return Blocker(ExceptionKind.PICK_OVERDUE, f"{pick_list_id} not confirmed within {sla}", clears=picked)
        if state.cancel is not None:
            raise Cancelled
        if fulfilment.cancelled:
            return None
        state.picked(workflow.now(), fulfilment, pick_list_id)
        return None

    async def _ship(self, fulfilment: Fulfilment) -> Blocker | None:
        state, commands = self._state, self._commands
        assert fulfilment.pick_list is not None and fulfilment.picked_at is not None
        state.handing_over(fulfilment)
        try:
            async with commands.writes:
                fulfilment.shipment = await commands.execute(
                    CarrierActivities.book_shipment,
                    BookShipment(
                        state.order_id,
                        fulfilment.allocation,
                        fulfilment.pick_list.pick_list_id,
                        state.ship_to,
                        fulfilment.picked_at,
                        fulfilment.picked_by or "warehouse",
                        state.status((fulfilment, "shipped")),
                        seq=state.next_seq(),
                    ),
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=SHIP_RETRY,
                )
        except STEP_FAILED:
            state.handover_failed(fulfilment)
            raise
        shipment = fulfilment.shipment
        state.note(workflow.now(), "shipped", f"{shipment.shipment_id} {shipment.carrier} {shipment.tracking_number}")
        commands.publish()
        entries, warnings = state.warnings_settled(workflow.now())
        if warnings:
            await commands.project(entries, exceptions=warnings)
        return None

    async def _issue_invoice(self, fulfilment: Fulfilment) -> Blocker | None:
        state, commands = self._state, self._commands
        assert fulfilment.shipment is not None
        prices = {line.sku: line.unit_price for line in state.order.lines}
        lines = [OrderLine(line.sku, line.quantity, prices[line.sku]) for line in fulfilment.allocation.lines]
        async with commands.writes:
            fulfilment.invoice = await commands.execute(
                BillingActivities.issue_invoice,
                IssueInvoice(
                    state.order_id,
                    fulfilment.allocation.allocation_id,
                    fulfilment.shipment.shipment_id,
                    sum(line.total for line in lines),
                    state.order.currency,
                    lines,
                    state.status((fulfilment, "invoiced")),
                    seq=state.next_seq(),
                ),
                start_to_close_timeout=timedelta(seconds=15),
                retry_policy=STEP_RETRY,
            )
        state.note(workflow.now(), "invoiced", fulfilment.invoice.number)
        commands.publish()
        return None
