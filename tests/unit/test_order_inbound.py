"""A backordered order and the inbound due for it (domain/inbound_eta.py, domain/order_inbound.py):
driven directly, time passed in."""

from datetime import timedelta

from domain.exceptions import Action, ExceptionKind
from domain.inbound_eta import ExpectedInbound, arrivals
from domain.order_inbound import OrderInbound
from domain.order_state import OrderState
from domain.orders import OrderStatus
from domain.steps import StockLine, StockReserved
from tests.unit.test_order_state import T0, received

SHIP_BY = T0 + timedelta(days=2)


def inbound(inbound_id: str, sku: str, quantity: int, days: float) -> ExpectedInbound:
    return ExpectedInbound(inbound_id, f"PO-{inbound_id}", "MAIN", sku, quantity, T0 + timedelta(days=days))


def backordered(lines: dict[str, int]) -> OrderState:
    state = received(lines)
    state.confirmed(T0)
    state.to_allocate()
    state.allocated(T0, StockReserved([], [StockLine(sku, qty) for sku, qty in lines.items()], "no stock"))
    assert state.status() is OrderStatus.BACKORDERED
    return state


def test_the_inbound_that_counts_is_the_one_by_which_enough_has_come() -> None:
    expected = [
        inbound("B", "TEE", 3, 4),
        inbound("A", "TEE", 2, 1),
        inbound("C", "TEE", 9, 6),
        inbound("D", "CAP", 9, 1),
    ]
    [tee, mug] = arrivals([StockLine("TEE", 5), StockLine("MUG", 1)], expected)
    assert tee.inbound is not None and tee.inbound.inbound_id == "B"  # 2 on day 1 + 3 on day 4
    assert mug.inbound is None and "no inbound" in mug.describe()
    assert tee.after(SHIP_BY) and not tee.after(None)


def test_late_inbound_warns_with_its_date_and_moving_it_in_time_clears_the_warning() -> None:
    state = backordered({"TEE": 2})
    watch = OrderInbound(state)
    assert watch.expected(T0, []).entries == [] and not state.at_risk  # nothing inbound: nothing to say

    late = inbound("A", "TEE", 5, 3)
    change = watch.expected(T0, [late])
    assert change.opened is not None and change.opened.exception.kind is ExceptionKind.SLA_AT_RISK
    assert late.expected_at.isoformat() in change.opened.exception.message
    assert [a.kind for a in change.opened.alerts] == ["sla_at_risk"]
    assert state.at_risk and state.status() is OrderStatus.BACKORDERED
    assert [e.entry.event for e in change.entries] == ["inbound_expected"]
    assert watch.expected(T0, [late]).entries == []  # read again unchanged: nothing new

    later = inbound("A", "TEE", 5, 4)
    moved = watch.expected(T0, [later])
    assert moved.closed == [change.opened.exception] and moved.opened is not None
    assert later.expected_at.isoformat() in moved.opened.exception.message

    in_time = watch.expected(T0, [inbound("A", "TEE", 5, 1)])
    assert in_time.opened is None and in_time.closed == [moved.opened.exception]
    assert in_time.closed[0].note == "inbound now comes in time for ship-by" and not state.at_risk


def test_an_acknowledged_warning_stays_closed_until_its_date_changes() -> None:
    state = backordered({"TEE": 2})
    watch = OrderInbound(state)
    warning = watch.expected(T0, [inbound("A", "TEE", 5, 3)]).opened
    assert warning is not None
    state.close(T0, warning.exception, Action.ACKNOWLEDGE, "erin", "customer told")
    assert watch.expected(T0, [inbound("A", "TEE", 5, 3)]).opened is None
    assert watch.expected(T0, [inbound("A", "TEE", 5, 5)]).opened is not None


def test_stopping_waiting_closes_the_warning() -> None:
    state = backordered({"TEE": 2})
    watch = OrderInbound(state)
    assert watch.expected(T0, [inbound("A", "TEE", 5, 3)]).opened is not None
    state.waiting = []
    assert [e.note for e in watch.stopped_waiting(T0).closed] == ["no longer waiting for stock"]
    assert not state.at_risk
