"""After the order completes: it stays open for the carrier's reports (handed over, delivered, failed)
until every shipment is delivered or settled, or the delivery window passes."""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.deliveries import DeliveryActivities
    from domain.deliveries import RecordDelivery, ShipmentReport
    from domain.exceptions import OrderException
    from domain.order_state import OrderState
    from domain.orders import OrderStatus, Step
    from domain.steps import Fulfilment, KeyedEntry, ProjectOrder

from workflows.order.commands import PROJECTION_RETRY, PROJECTION_TIMEOUT, Commands, within


class DeliveryTracking:
    def __init__(self, state: OrderState, commands: Commands) -> None:
        self._state = state
        self._commands = commands

    async def await_reports(self) -> None:
        """Completed: stay open for the carrier's reports until every shipment is delivered (status
        `delivered`) or settled, or the delivery window passes (`delivery_unconfirmed`, still `completed`).
        A failed delivery a person has not settled yet keeps the order open past the window."""
        state = self._state
        if not any(f.shipment for f in state.fulfilments):
            return
        if state.awaiting_reports():
            await self._commands.project([])
        else:
            self._commands.show(Step.DELIVER, "waiting for the carrier to report delivery")
        window = timedelta(seconds=state.policy.delivery_window_s)
        settled = await within(window, state.delivery_settled)
        await workflow.wait_condition(lambda: not state.delivery_trouble())
        # From here on a report finds the order closed to reports, not a wait that is about to end.
        state.delivery_closed = True
        if state.progress is OrderStatus.DELIVERED:
            workflow.set_current_details(f"**Delivered** · {len(state.fulfilments)} shipment(s)")
        elif not settled and not state.delivery_settled():
            missing = state.undelivered()
            detail = f"no delivery report within {window} for {', '.join(missing)}"
            await self._commands.project([state.note(workflow.now(), "delivery_unconfirmed", detail)])
            workflow.set_current_details(f"**Completed** · delivery unconfirmed for {len(missing)} shipment(s)")

    async def record(
        self,
        fulfilment: Fulfilment,
        event: str,
        report: ShipmentReport,
        entries: list[KeyedEntry],
        exceptions: list[OrderException] | None = None,
    ) -> None:
        """Persist the report on the shipment, with its timeline entries and the status it brings."""
        state, commands = self._state, self._commands
        assert fulfilment.shipment is not None
        commands.publish()
        async with commands.writes:
            await commands.execute(
                DeliveryActivities.record_delivery,
                RecordDelivery(
                    fulfilment.shipment.shipment_id,
                    event,
                    report.at,
                    ProjectOrder(
                        state.order_id,
                        state.status(),
                        entries,
                        exceptions or [],
                        at_risk=state.at_risk,
                        seq=state.next_seq(),
                    ),
                    received_by=fulfilment.received_by if event == "delivered" else None,
                ),
                start_to_close_timeout=PROJECTION_TIMEOUT,
                retry_policy=PROJECTION_RETRY,
            )
