"""Which rule actions still apply after an edit, pure (domain/edit_rules.py)."""

from domain.edit_rules import apply_rules_after_edit, rules_after_edit
from domain.order_edits import LineChange
from domain.orders import OrderLine, Priority
from domain.policy import RuleFiring
from domain.rules import AddGift, Hold, RequireApproval, RuleVersion, SetPriority, Tag
from domain.steps import Allocation, Fulfilment, StockLine
from tests.unit.test_order_state import T0, allocated, received

LINES = [OrderLine("TEA", 1, 1000), OrderLine("MUG", 1, 0, gift=True)]


def rule(rule_id: int, *then: object) -> RuleVersion:
    return RuleVersion(rule_id, 1, f"rule{rule_id}", "true", list(then))  # type: ignore[arg-type]


def test_gifts_follow_the_rules_until_picking_starts() -> None:
    unpicked = [Fulfilment(Allocation("O.1", "MAIN", [StockLine("TEA", 1), StockLine("MUG", 1)]))]
    changes, rules = rules_after_edit(LINES, unpicked, [RuleFiring("1@1", "gift")], [rule(2, AddGift("PEN", 2))])
    assert changes == [LineChange("MUG", 0), LineChange("PEN", 2, 0, gift=True)]
    assert rules.summary.startswith("after the edit: gift MUG withdrawn; gift PEN x 2 added")

    picked = [Fulfilment(Allocation("O.1", "MAIN", [StockLine("TEA", 1)]), picked_at=T0)]
    changes, rules = rules_after_edit(LINES, picked, [], [rule(2, AddGift("PEN", 2))])
    assert changes == [] and "gifts unchanged: picking has started" in rules.summary
    assert rules.firings[0].overridden == ["add_gift not applied: picking has started"]

    kept, nothing = rules_after_edit(LINES, unpicked, [RuleFiring("1@1", "gift")], [rule(1, AddGift("MUG"))])
    assert kept == [] and not nothing  # the gift stays: nothing to record


def test_only_rules_that_newly_fire_approve_hold_and_tag_and_never_reprioritise() -> None:
    before = [RuleFiring("7@1", "old hold")]
    fired = [
        rule(7, Hold("again")),
        rule(8, Tag(["vip"]), SetPriority(Priority.RUSH), RequireApproval("big")),
        rule(9, Hold("check", hours=2), Tag(["vip", "new"])),
    ]
    _, rules = rules_after_edit([OrderLine("TEA", 1, 1000)], [], before, fired)
    assert (rules.hold_reason, rules.hold_hours, rules.tags) == ("check", 2, ["vip", "new"])
    assert rules.approvals == ["big (rule 8 v1 'rule8')"]
    assert [f.rule for f in rules.firings] == ["8@1", "9@1"]
    assert rules.firings[0].overridden == ["set_priority not applied after submission"]

    state = received({"TEA": 1})  # before approval: the order waits for one
    entries, hold = apply_rules_after_edit(state, T0, rules)
    assert state.policy.approval_reasons == ["big (rule 8 v1 'rule8')"] and state.policy.tags == ["vip", "new"]
    assert hold is not None and hold.until is not None and hold.reason == "check (after an edit)"
    assert [e.entry.event for e in entries] == ["rules", "held"]

    past = received({"TEA": 1})
    allocated(past, "MAIN")  # past approval: a rule's approval becomes a hold for a person
    _, approval_only = rules_after_edit([OrderLine("TEA", 1, 1000)], [], [], [rule(8, RequireApproval("big"))])
    _, hold = apply_rules_after_edit(past, T0, approval_only)
    assert hold is not None and hold.reason.startswith("approval required after an edit: big")
    assert hold.until is None and past.policy.approval_reasons == []
