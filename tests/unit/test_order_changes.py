"""Changes after the order was placed, driven directly on the order's bookkeeping: no Temporal."""

import pytest

from domain.contract import ErrorType
from domain.exceptions import Action, ExceptionKind
from domain.order_changes import OrderChanges
from domain.order_state import Refusal
from domain.orders import OrderStatus, Step
from domain.steps import CancelRequest, InvoiceIssued, PickListCreated, StockLine
from tests.unit.test_order_state import T0, allocated, received, ship

REQ = CancelRequest("customer no longer needs the rest", "key:cs")


def test_the_backordered_remainder_is_dropped_and_the_order_completes_with_what_shipped() -> None:
    state = received({"TEE": 3})
    (first,) = allocated(state, "MAIN", backordered=[StockLine("TEE", 2)])
    ship(state, first)
    first.invoice = InvoiceIssued("INV-1", 1000, "CNY")
    assert state.status() is OrderStatus.BACKORDERED
    shortage = state.open(T0, Step.ALLOCATE, ExceptionKind.STOCK_SHORTAGE, "no stock within 2 days").exception

    done = OrderChanges(state).cancel_remainder(T0, REQ)

    assert done.remainder.backordered == [StockLine("TEE", 2)] and done.remainder.fulfilments == []
    assert done.closed == [shortage] and shortage.resolution is Action.CANCEL
    assert state.waiting == [] and state.all_shipped()
    assert state.status() is OrderStatus.COMPLETED
    assert state.timeline[-1].event == "remainder_cancelled"
    assert state.timeline[-1].detail == "2 x TEE: customer no longer needs the rest"
    assert state.completed(T0) is None  # every shipped part is invoiced: nothing handled outside


def test_an_unpicked_part_is_dropped_with_its_overdue_pick_and_a_picked_one_is_not() -> None:
    state = received()
    first, second, third = allocated(state, "MAIN", "EAST", "WEST")
    ship(state, first)
    third.picked_at = T0  # picked, about to be handed over: it ships
    second.pick_list = PickListCreated("PL-web-W-1.2")
    overdue = state.open(T0, Step.PICK, ExceptionKind.PICK_OVERDUE, "PL-web-W-1.2 not confirmed within 4:00:00")
    other = state.open(T0, Step.PICK, ExceptionKind.PICK_OVERDUE, "PL-web-W-1.3 not confirmed within 4:00:00")

    done = OrderChanges(state).cancel_remainder(T0, REQ)

    assert done.remainder.fulfilments == [second] and second.cancelled and not third.cancelled
    assert done.closed == [overdue.exception] and other.exception.is_open
    assert not state.all_shipped()  # the picked part has still to ship


def test_cancelling_the_remainder_is_refused_before_anything_shipped_and_when_nothing_remains() -> None:
    changes_of_new = OrderChanges(state := received())
    allocated(state, "MAIN", backordered=[StockLine("TEE", 1)])
    with pytest.raises(Refusal, match="nothing has shipped") as caught:
        changes_of_new.check_cancel_remainder(REQ)
    assert caught.value.kind is ErrorType.REJECTED

    shipped = received()
    (only,) = allocated(shipped, "MAIN")
    ship(shipped, only)
    with pytest.raises(Refusal, match="nothing remains"):
        OrderChanges(shipped).check_cancel_remainder(REQ)

    cancelling = received()
    (part,) = allocated(cancelling, "MAIN", backordered=[StockLine("TEE", 1)])
    ship(cancelling, part)
    cancelling.cancel = CancelRequest("whole order")
    with pytest.raises(Refusal, match="being cancelled"):
        OrderChanges(cancelling).check_cancel_remainder(REQ)


def test_a_full_cancel_still_counts_a_cancelled_part_as_not_shipped() -> None:
    state = received()
    (fulfilment,) = allocated(state, "MAIN")
    state.cancel = CancelRequest("changed mind")
    state.cancelled(T0)
    assert fulfilment.cancelled and not state.all_shipped()
