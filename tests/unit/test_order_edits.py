"""Edit rules, pure: what an edit makes of an order's lines, parts and stock, and when it is refused."""

from datetime import timedelta

import pytest

from domain.exceptions import ExceptionKind
from domain.order_changes import OrderChanges
from domain.order_edits import EditOrder, LineChange, plan_edit
from domain.order_state import Refusal
from domain.orders import OrderLine, OrderStatus, Priority
from domain.steps import Allocation, Fulfilment, ShipmentBooked, StockLine
from tests.unit.test_order_state import T0, allocated, received, ship

LINES = [OrderLine("TEE", 2, 1000), OrderLine("CAP", 1, 500)]


def part(n: int, *lines: tuple[str, int]) -> Fulfilment:
    return Fulfilment(Allocation(f"O.{n}", "MAIN", [StockLine(sku, q) for sku, q in lines]))


def edit(*changes: LineChange, priority: Priority | None = None) -> EditOrder:
    return EditOrder(list(changes), priority, "key:cs", "customer called")


def test_an_added_line_is_reserved_and_nothing_else_moves() -> None:
    first = part(1, ("TEE", 2), ("CAP", 1))
    plan = plan_edit(LINES, [first], [], Priority.STANDARD, edit(LineChange("SOCK", 3, 250)))
    assert plan.lines == [*LINES, OrderLine("SOCK", 3, 250)]
    assert (plan.total, plan.difference) == (3250, 750)
    assert plan.to_reserve == [StockLine("SOCK", 3)]
    assert plan.dropped == [] and plan.to_release == []
    assert plan.summary == "added 3 x SOCK"


def test_a_changed_quantity_replaces_the_unpicked_part_that_carries_it() -> None:
    first, second = part(1, ("TEE", 2)), part(2, ("CAP", 1))
    plan = plan_edit(LINES, [first, second], [], Priority.STANDARD, edit(LineChange("TEE", 1)))
    assert plan.dropped == [first]
    assert plan.to_release == [StockLine("TEE", 2)] and plan.to_reserve == [StockLine("TEE", 1)]
    assert plan.difference == -1000 and plan.lines[0] == OrderLine("TEE", 1, 1000)
    assert plan.summary == "TEE 2 → 1"


def test_a_removed_line_releases_its_part_and_a_price_change_moves_no_stock() -> None:
    first = part(1, ("TEE", 2), ("CAP", 1))
    removed = plan_edit(LINES, [first], [], Priority.STANDARD, edit(LineChange("CAP", 0)))
    assert removed.lines == [LINES[0]] and removed.dropped == [first]
    assert removed.to_reserve == [StockLine("TEE", 2)]  # the part's other line is reserved again
    cheaper = plan_edit(LINES, [first], [], Priority.STANDARD, edit(LineChange("CAP", 1, 400)))
    assert cheaper.dropped == [] and cheaper.to_reserve == [] and cheaper.difference == -100


def test_backordered_units_of_a_line_are_planned_again_with_the_edit() -> None:
    first = part(1, ("TEE", 1))
    plan = plan_edit(LINES, [first], [StockLine("TEE", 1)], Priority.STANDARD, edit(LineChange("CAP", 3)))
    assert plan.to_reserve == [StockLine("TEE", 1), StockLine("CAP", 3)]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ((LineChange("TEE", 1),), "has been picked"),
        ((LineChange("HAT", 0),), "nothing to remove"),
        ((LineChange("HAT", 1),), "needs its unit_price"),
        ((LineChange("TEE", 0), LineChange("CAP", 0)), "cannot remove every line"),
        ((LineChange("CAP", 2), LineChange("CAP", 3)), "more than once"),
        ((), "changes nothing"),
    ],
)
def test_edits_that_do_not_apply_are_refused_with_the_reason(changes: tuple[LineChange, ...], message: str) -> None:
    picked = part(1, ("TEE", 2))
    picked.picked_at = T0
    with pytest.raises(Refusal, match=message):
        plan_edit(LINES, [picked, part(2, ("CAP", 1))], [], Priority.STANDARD, edit(*changes))


def test_a_shipped_line_cannot_change_but_another_line_can() -> None:
    shipped = part(1, ("TEE", 2))
    shipped.shipment = ShipmentBooked("SH-1", "SF", "1")
    with pytest.raises(Refusal, match="has been shipped"):
        plan_edit(LINES, [shipped], [StockLine("CAP", 1)], Priority.STANDARD, edit(LineChange("TEE", 3)))
    plan = plan_edit(LINES, [shipped], [StockLine("CAP", 1)], Priority.STANDARD, edit(LineChange("CAP", 2)))
    assert plan.to_reserve == [StockLine("CAP", 2)]


def test_the_state_takes_the_edit_and_a_completed_order_refuses_it() -> None:
    state = received({"TEE": 1})
    (first,) = allocated(state, "MAIN")
    edited = OrderChanges(state).edit(T0, edit(LineChange("TEE", 2), priority=Priority.RUSH))
    assert first.cancelled and edited.reallocate
    assert state.waiting == [StockLine("TEE", 2)] and state.order.total == 2000
    assert state.order.priority is Priority.RUSH
    assert state.timeline[-1].event == "edited" and state.timeline[-1].actor == "key:cs"
    assert state.timeline[-1].detail == "TEE 1 → 2, priority rush. customer called"

    done = received({"TEE": 1})
    (only,) = allocated(done, "MAIN")
    ship(done, only)
    with pytest.raises(Refusal, match="has shipped"):
        OrderChanges(done).check_edit(edit(LineChange("CAP", 1, 100)), T0)
    done.progress = OrderStatus.COMPLETED
    with pytest.raises(Refusal, match="completed"):
        OrderChanges(done).check_edit(edit(LineChange("CAP", 1, 100)), T0)


def test_an_edit_before_allocation_only_changes_the_lines() -> None:
    state = received({"TEE": 1})
    edited = OrderChanges(state).edit(T0, edit(LineChange("CAP", 1, 500)))
    assert not edited.reallocate and state.waiting == []
    state.to_allocate()
    assert state.waiting == [StockLine("TEE", 1), StockLine("CAP", 1)]


def test_a_moved_promise_needs_a_reason_and_a_future_date_and_withdraws_a_warning_it_no_longer_gives() -> None:
    state = received({"TEE": 1})
    allocated(state, "MAIN")
    old = state.policy.ship_by
    with pytest.raises(Refusal, match="not in the future"):
        OrderChanges(state).check_edit(EditOrder(ship_by=T0 - timedelta(hours=1), reason="late"), T0)
    with pytest.raises(Refusal, match="needs a reason"):
        OrderChanges(state).check_edit(EditOrder(ship_by=old + timedelta(days=1)), T0)
    with pytest.raises(Refusal, match="changes nothing"):
        OrderChanges(state).check_edit(EditOrder(ship_by=old, reason="same"), T0)

    now = old - timedelta(hours=24)  # inside the 48 h warning: warned
    warning = state.open(now, state.current_step(), ExceptionKind.SLA_AT_RISK, "due soon")
    state.warned = True
    later = old + timedelta(days=7)
    edited = OrderChanges(state).edit(now, EditOrder(ship_by=later, actor="erin", reason="customer agreed"))
    assert state.policy.ship_by == later and not state.warned and not state.at_risk
    assert edited.closed == [warning.exception] and warning.exception.resolved_by == "erin"
    assert edited.plan.ship_by == later and edited.plan.to_reserve == [] and not state.waiting
    assert state.timeline[-1].detail == f"ship-by {old.isoformat()} → {later.isoformat()}. customer agreed"

    sooner = now + timedelta(hours=30)  # its warning time has passed: the order is warned at once by the watch
    edited = OrderChanges(state).edit(now, EditOrder(ship_by=sooner, reason="rushed"))
    assert edited.closed == [] and state.policy.ship_by == sooner
