"""The carrier's reports about an order's shipments after they left: handed over, delivered, failed.
Each partner event acts once; once the order stops waiting for reports they are refused
(`DELIVERY_CLOSED`) and recorded on the shipment directly. Pure, like the `OrderState` it works on."""

from datetime import datetime

from domain.contract import ErrorType
from domain.deliveries import ShipmentReport
from domain.exceptions import Action, ExceptionKind, OrderException
from domain.order_state import Opened, OrderState, Refusal, rejected
from domain.orders import OrderStatus, Step
from domain.steps import Fulfilment, KeyedEntry


class CarrierReports:
    def __init__(self, state: OrderState) -> None:
        self._state = state

    def reportable(self, shipment_id: str) -> Fulfilment:
        """The shipment a carrier report is about, while the order still takes reports."""
        state = self._state
        if state.delivery_closed:
            raise Refusal(ErrorType.DELIVERY_CLOSED, "the order no longer waits for delivery reports")
        return state.shipped(shipment_id)

    def check_delivery_failed(self, report: ShipmentReport) -> None:
        fulfilment = self.reportable(report.shipment_id)
        if fulfilment.delivered_at is not None:
            raise rejected(f"{report.shipment_id} was reported delivered at {fulfilment.delivered_at.isoformat()}")

    def first_time(self, report: ShipmentReport) -> bool:
        """False for a partner event this order acted on already."""
        state = self._state
        if report.ref in state.reports:
            return False
        if report.ref:
            state.reports.add(report.ref)
        return True

    def handed_over(self, now: datetime, report: ShipmentReport) -> tuple[Fulfilment, list[KeyedEntry]] | None:
        """The carrier has the parcel; None when it was known already."""
        state = self._state
        fulfilment = state.shipped(report.shipment_id)
        if fulfilment.handed_over_at is not None or not self.first_time(report):
            return None
        fulfilment.handed_over_at = report.at
        return fulfilment, [state.note(now, "handed_to_carrier", report.shipment_id, report.actor)]

    def delivered(
        self, now: datetime, report: ShipmentReport
    ) -> tuple[Fulfilment, list[KeyedEntry], list[OrderException]] | None:
        """The parcel arrived: a failed delivery of it closes; None when the report was acted on already."""
        state = self._state
        fulfilment = state.shipped(report.shipment_id)
        if fulfilment.delivered_at is not None or not self.first_time(report):
            return None  # the same report again: it acted once already
        fulfilment.delivered_at = report.at
        fulfilment.received_by = report.detail or None
        fulfilment.returned = False
        failed = state.delivery_exceptions(report.shipment_id)
        entries = [state.close(now, e, Action.RETRY, "system", "delivered after all") for e in failed]
        if state.awaiting_delivery and state.all_delivered():
            state.progress = OrderStatus.DELIVERED
        received = f" to {report.detail}" if report.detail else ""
        entries.append(state.note(now, "delivered", f"{report.shipment_id}{received}", report.actor))
        return fulfilment, entries, failed

    def delivery_failed(self, now: datetime, report: ShipmentReport) -> Opened | None:
        """Opens a `delivery_failed` exception, one at a time per shipment; None if one is open already."""
        state = self._state
        fulfilment = state.shipped(report.shipment_id)
        already = bool(state.delivery_exceptions(report.shipment_id))
        if fulfilment.delivered_at is not None or already or not self.first_time(report):
            return None
        opened = state.open(
            now, Step.DELIVER, ExceptionKind.DELIVERY_FAILED, f"{report.shipment_id} not delivered: {report.detail}"
        )
        state.failed_deliveries[opened.exception.exception_id] = report.shipment_id
        return opened
