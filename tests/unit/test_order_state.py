"""The order's bookkeeping, people's controls and the carrier's reports, driven directly: no Temporal,
time passed in."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from domain.contract import ErrorType
from domain.deliveries import ShipmentReport
from domain.exceptions import Action, ExceptionKind
from domain.order_controls import OrderControls
from domain.order_reports import CarrierReports
from domain.order_state import OrderState, Refusal
from domain.orders import Address, Customer, Order, OrderLine, OrderStatus, Step
from domain.policy import NewOrder, OrderPolicy
from domain.steps import (
    Allocation,
    CancelRequest,
    ChangeAddress,
    ControlRequest,
    Fulfilment,
    HoldRequest,
    InvoiceIssued,
    PickConfirmation,
    PickListCreated,
    ResolveException,
    ShipmentBooked,
    StockLine,
    StockReserved,
)

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
HOME = Address("Li Wei", "88 Century Ave", "Shanghai", "200120", "CN")
ELSEWHERE = Address("Li Wei", "1 Nanjing Rd", "Shanghai", "200001", "CN")


def received(lines: dict[str, int] | None = None) -> OrderState:
    order = Order(
        channel="web",
        external_id="W-1",
        customer=Customer("C-1", "Li Wei", "li.wei@example.com"),
        ship_to=HOME,
        lines=[OrderLine(sku, qty, 1000) for sku, qty in (lines or {"TEE": 2}).items()],
        currency="CNY",
    )
    return OrderState.received(NewOrder(order, OrderPolicy(ship_by=T0 + timedelta(days=2))), T0)


def allocated(state: OrderState, *warehouses: str, backordered: list[StockLine] | None = None) -> list[Fulfilment]:
    state.confirmed(T0)
    state.to_allocate()
    allocations = [Allocation(f"web-W-1.{i + 1}", w, [StockLine("TEE", 1)]) for i, w in enumerate(warehouses)]
    return state.allocated(T0, StockReserved(allocations, backordered or [], "nearest warehouse"))


def pick(state: OrderState, fulfilment: Fulfilment) -> None:
    pick_list_id = f"PL-{fulfilment.allocation.allocation_id}"
    fulfilment.pick_list = PickListCreated(pick_list_id)
    state.pick_confirmations[pick_list_id] = PickConfirmation(pick_list_id, "alice")
    state.picked(T0, fulfilment, pick_list_id)


def ship(state: OrderState, fulfilment: Fulfilment) -> str:
    pick(state, fulfilment)
    state.handing_over(fulfilment)
    shipment_id = f"SH-{fulfilment.allocation.allocation_id}"
    fulfilment.shipment = ShipmentBooked(shipment_id, "SF", "OF1")
    return shipment_id


@contextmanager
def refusal(kind: ErrorType) -> Iterator[None]:
    with pytest.raises(Refusal) as caught:
        yield
    assert caught.value.kind is kind


def test_an_order_moves_from_received_to_completed_as_its_shipments_do() -> None:
    state = received()
    assert state.status() is OrderStatus.RECEIVED
    first, second = allocated(state, "MAIN", "EAST")
    assert state.status() is OrderStatus.ALLOCATED
    pick(state, first)
    assert state.status() is OrderStatus.PICKING
    ship(state, first)
    ship(state, second)
    assert state.status() is OrderStatus.SHIPPED and state.all_shipped()
    first.invoice = InvoiceIssued("INV-1", 1000, "CNY")
    assert state.status((second, "invoiced")) is OrderStatus.COMPLETED  # what it will be once invoiced
    assert state.status() is OrderStatus.SHIPPED
    second.invoice = InvoiceIssued("INV-2", 1000, "CNY")
    assert state.status() is OrderStatus.COMPLETED
    assert [e.event for e in state.timeline][:3] == ["received", "confirmed", "allocated"]


def test_nothing_in_stock_is_backordered_and_the_timeline_says_what_it_waits_for() -> None:
    state = received({"TEE": 2})
    assert allocated(state, backordered=[StockLine("TEE", 2)]) == []
    assert state.status() is OrderStatus.BACKORDERED
    assert state.timeline[-1].detail == "waiting for 2 x TEE"
    assert state.takes_restock()


def test_a_blocking_exception_needs_attention_and_puts_the_promise_at_risk_until_closed() -> None:
    state = received()
    allocated(state, "MAIN")
    opened = state.open(T0, Step.PICK, ExceptionKind.PICK_OVERDUE, "PL-1 not confirmed")
    assert state.status() is OrderStatus.NEEDS_ATTENTION and state.at_risk
    assert [a.kind for a in opened.alerts] == ["exception_opened", "sla_at_risk"]
    assert opened.exception.exception_id == "web-W-1-EX1"
    assert opened.exception.allowed_actions == [Action.RETRY, Action.CANCEL]
    state.close(T0, opened.exception, Action.RETRY, "alice", "confirmed by phone")
    assert state.status() is OrderStatus.ALLOCATED and not state.at_risk


def test_a_warning_does_not_stop_the_order_and_closes_itself_once_everything_shipped() -> None:
    state = received()
    (fulfilment,) = allocated(state, "MAIN")
    state.warned = True
    warning = state.open(T0, Step.PICK, ExceptionKind.SLA_AT_RISK, "not shipped yet").exception
    assert state.status() is OrderStatus.ALLOCATED and state.at_risk
    assert state.warnings_settled(T0) == ([], [])  # not shipped yet
    ship(state, fulfilment)
    entries, closed = state.warnings_settled(T0)
    assert closed == [warning] and warning.resolution is Action.ACKNOWLEDGE and len(entries) == 1
    assert not state.at_risk


def test_cancel_is_refused_once_goods_are_handed_to_the_carrier_and_no_longer_offered() -> None:
    state = received()
    (fulfilment,) = allocated(state, "MAIN")
    stuck = state.open(T0, Step.PICK, ExceptionKind.STEP_FAILED, "warehouse down").exception
    OrderControls(state).check_cancel(CancelRequest("customer changed mind"))  # still possible
    ship(state, fulfilment)
    with refusal(ErrorType.REJECTED):
        OrderControls(state).check_cancel(CancelRequest("too late"))
    with refusal(ErrorType.REJECTED):
        OrderControls(state).check_change_address(ChangeAddress(ELSEWHERE))
    assert Action.CANCEL not in stuck.allowed_actions
    with refusal(ErrorType.REJECTED):
        OrderControls(state).check_resolve(ResolveException(stuck.exception_id, Action.CANCEL))


def test_a_failed_handover_offers_cancel_again() -> None:
    state = received()
    (fulfilment,) = allocated(state, "MAIN")
    pick(state, fulfilment)
    state.handing_over(fulfilment)
    state.handover_failed(fulfilment)
    OrderControls(state).check_cancel(CancelRequest("customer changed mind"))


def test_a_second_cancel_and_a_cancel_after_completion_are_refused() -> None:
    state = received()
    state.cancel = CancelRequest("first")
    with refusal(ErrorType.REJECTED):
        OrderControls(state).check_cancel(CancelRequest("second"))
    with refusal(ErrorType.REJECTED):
        OrderControls(state).check_hold(HoldRequest("wait"), T0)
    done = received()
    done.progress = OrderStatus.COMPLETED
    with pytest.raises(Refusal, match="the order is completed"):
        OrderControls(done).check_cancel(CancelRequest("late"))


def test_cancelling_drops_what_has_not_shipped_closes_what_is_open_and_releases_its_stock() -> None:
    state = received()
    first, second = allocated(state, "MAIN", "EAST")
    ship(state, first)
    stuck = state.open(T0, Step.PICK, ExceptionKind.PICK_OVERDUE, "PL late").exception
    state.cancel = CancelRequest("customer changed mind", "bob")
    entries, closed = state.cancelled(T0)
    assert state.status() is OrderStatus.CANCELLED and not state.at_risk
    assert closed == [stuck] and stuck.resolution is Action.CANCEL and stuck.resolved_by == "bob"
    assert (first.cancelled, second.cancelled) == (False, True)
    assert state.released_skus() == ["TEE"]
    assert [e.entry.event for e in entries] == ["exception_resolved", "cancelled"]


def test_a_hold_is_refused_twice_or_ending_in_the_past_and_released_once() -> None:
    state = received()
    with refusal(ErrorType.REJECTED):
        OrderControls(state).check_release(ControlRequest())
    with pytest.raises(Refusal, match="a hold must end in the future"):
        OrderControls(state).check_hold(HoldRequest("audit", until=T0), T0)
    OrderControls(state).put_on_hold(T0, HoldRequest("audit", until=T0 + timedelta(hours=1)))
    assert state.status() is OrderStatus.ON_HOLD
    with pytest.raises(Refusal, match="on hold already"):
        OrderControls(state).check_hold(HoldRequest("again"), T0)
    OrderControls(state).release(T0, "audit done", "alice")
    assert state.status() is OrderStatus.RECEIVED
    assert state.timeline[-1].event == "released" and state.timeline[-1].actor == "alice"


def test_resolving_checks_the_exception_and_the_action() -> None:
    state = received()
    allocated(state, "MAIN")
    with refusal(ErrorType.NOT_FOUND):
        OrderControls(state).check_resolve(ResolveException("web-W-1-EX9", Action.RETRY))
    exception = state.open(T0, Step.SHIP, ExceptionKind.ADDRESS_REJECTED, "no such street").exception
    with pytest.raises(Refusal, match="skip does not apply to address_rejected; allowed: change_address, retry"):
        OrderControls(state).check_resolve(ResolveException(exception.exception_id, Action.SKIP))
    with pytest.raises(Refusal, match="needs the new address"):
        OrderControls(state).check_resolve(ResolveException(exception.exception_id, Action.CHANGE_ADDRESS))
    resolve = ResolveException(exception.exception_id, Action.CHANGE_ADDRESS, "alice", ship_to=ELSEWHERE)
    OrderControls(state).check_resolve(resolve)
    OrderControls(state).resolve(T0, exception, resolve)
    assert state.ship_to == ELSEWHERE and not exception.is_open
    OrderControls(state).check_resolve(resolve)  # the same resolution again is answered, not refused
    with pytest.raises(Refusal, match="already resolved with change_address"):
        OrderControls(state).check_resolve(ResolveException(exception.exception_id, Action.RETRY))


def test_a_shortage_retried_by_a_person_allocates_again_and_ship_available_allows_partial() -> None:
    state = received()
    allocated(state, backordered=[StockLine("TEE", 2)])
    shortage = state.open(T0, Step.ALLOCATE, ExceptionKind.STOCK_SHORTAGE, "no stock").exception
    OrderControls(state).resolve(T0, shortage, ResolveException(shortage.exception_id, Action.SHIP_AVAILABLE))
    assert state.allocate_now and state.allow_partial


def test_changing_the_address_closes_an_address_rejection() -> None:
    state = received()
    rejected = state.open(T0, Step.SHIP, ExceptionKind.ADDRESS_REJECTED, "no such street").exception
    entries, closed = OrderControls(state).change_address(T0, ChangeAddress(ELSEWHERE, "alice", "customer called"))
    assert closed == [rejected] and rejected.resolution is Action.CHANGE_ADDRESS
    assert [e.entry.event for e in entries] == ["address_changed", "exception_resolved"]


def test_approval_is_only_taken_while_the_order_waits_for_it() -> None:
    state = received()
    state.confirmed(T0)
    with refusal(ErrorType.REJECTED):
        OrderControls(state).check_approve(ControlRequest())
    assert state.ask_approval(T0) is not None
    assert state.ask_approval(T0) is None  # asked once
    assert state.status() is OrderStatus.AWAITING_APPROVAL
    overdue = state.open(T0, Step.APPROVE, ExceptionKind.APPROVAL_OVERDUE, "no approval").exception
    OrderControls(state).check_approve(ControlRequest())
    entries, closed = OrderControls(state).approve(T0, ControlRequest("boss"))
    assert closed == [overdue] and not overdue.is_open and len(entries) == 2
    assert state.status() is OrderStatus.CONFIRMED
    with refusal(ErrorType.REJECTED):
        OrderControls(state).check_approve(ControlRequest())


def test_rejecting_requests_the_cancel_at_once() -> None:
    state = received()
    state.ask_approval(T0)
    OrderControls(state).reject(T0, ControlRequest("boss", "too big"))
    assert state.cancel == CancelRequest("rejected: too big", "boss")
    assert state.approved is False and not state.awaiting_approval


def test_read_model_writes_are_numbered_in_order() -> None:
    state = received()
    assert [state.next_seq() for _ in range(3)] == [1, 2, 3]


def delivering() -> tuple[OrderState, str]:
    state = received()
    (fulfilment,) = allocated(state, "MAIN")
    shipment_id = ship(state, fulfilment)
    fulfilment.invoice = InvoiceIssued("INV-1", 1000, "CNY")
    state.completed(T0)
    return state, shipment_id


def test_a_failed_delivery_needs_a_person_until_the_parcel_arrives_after_all() -> None:
    state, shipment_id = delivering()
    assert state.awaiting_reports() is False
    failed = CarrierReports(state).delivery_failed(T0, ShipmentReport(shipment_id, T0, "nobody home", ref="ev-1"))
    assert failed is not None and state.status() is OrderStatus.NEEDS_ATTENTION
    again = ShipmentReport(shipment_id, T0, "again", ref="ev-2")
    assert CarrierReports(state).delivery_failed(T0, again) is None  # one open at a time per shipment
    assert not state.at_risk  # the parcel has left: the ship-by promise is kept
    delivered = CarrierReports(state).delivered(T0, ShipmentReport(shipment_id, T0, "neighbour", ref="ev-3"))
    assert delivered is not None and delivered[2] == [failed.exception]
    assert state.status() is OrderStatus.DELIVERED and state.delivery_settled()
    assert CarrierReports(state).delivered(T0, ShipmentReport(shipment_id, T0, ref="ev-4")) is None  # delivered once
    with pytest.raises(Refusal, match="was reported delivered"):
        CarrierReports(state).check_delivery_failed(ShipmentReport(shipment_id, T0))


def test_the_same_partner_event_acts_once_and_reports_stop_when_delivery_closes() -> None:
    state, shipment_id = delivering()
    report = ShipmentReport(shipment_id, T0, ref="ev-1")
    assert CarrierReports(state).handed_over(T0, report) is not None
    same_event = ShipmentReport(shipment_id, T0, ref="ev-1")
    assert CarrierReports(state).delivered(T0, same_event) is None
    with refusal(ErrorType.REJECTED):
        CarrierReports(state).reportable("SH-unknown")
    state.delivery_closed = True
    with refusal(ErrorType.DELIVERY_CLOSED):
        CarrierReports(state).reportable(shipment_id)


def test_acknowledging_a_failed_delivery_settles_it_as_returned() -> None:
    state, shipment_id = delivering()
    opened = CarrierReports(state).delivery_failed(T0, ShipmentReport(shipment_id, T0, "refused"))
    assert opened is not None
    exception = opened.exception
    assert exception.allowed_actions == [Action.RETRY, Action.ACKNOWLEDGE]
    OrderControls(state).resolve(T0, exception, ResolveException(exception.exception_id, Action.ACKNOWLEDGE))
    assert state.shipped(shipment_id).returned and state.delivery_settled()
    assert state.status() is OrderStatus.COMPLETED


def test_the_current_step_follows_the_order() -> None:
    state = received()
    assert state.current_step() is Step.CONFIRM
    (fulfilment,) = allocated(state, "MAIN")
    assert state.current_step() is Step.PICK
    ship(state, fulfilment)
    assert state.current_step() is Step.ALLOCATE
