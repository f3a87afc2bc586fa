"""Business rules evaluated again on an edited order: which of their actions still apply once the order
has started, and what they do to it.

The rules run on the order as the edit leaves it (its channel lines, without gifts), outside the
workflow like at submission (`rules.engine.fired_on`); what they decide is fixed into the edit
(`EditOrder.rules`, gifts as line changes) and the workflow applies it with the edit.

- `add_gift`: added when its rule now fires, withdrawn when no rule gives it any more — only while
  nothing on the order has been picked or shipped; after that the gifts stay as they are.
- `require_approval` (a rule that newly fires): before the order has passed approval it waits for one;
  once past it, the order is put on hold for a person instead.
- `hold` (a rule that newly fires): the order is held (for the rule's hours), unless it is on hold
  already or has shipped entirely.
- `tag` (a rule that newly fires): its tags are added.
- `set_priority`, `set_ship_by`, `route`, `set_split`: not applied. Priority and promise are edited by
  people; route and split shaped an allocation made already.

A rule *newly fires* when it had not fired on the order before (at submission or after an earlier edit),
so a hold a person released is not put back by the next edit, and approvals, holds and tags of rules
that stop firing stay. The order's `rules` list gains the rules that newly fired, with what they did.

Pure: no I/O, no clock.
"""

from dataclasses import replace
from datetime import datetime, timedelta

from domain.order_controls import OrderControls
from domain.order_edits import LineChange, RulesAfterEdit
from domain.order_state import OrderState
from domain.orders import OrderLine
from domain.policy import RuleFiring
from domain.rules import (
    ACTION_NAMES,
    AddGift,
    Hold,
    RequireApproval,
    RuleVersion,
    Tag,
    decide,
    describe,
)
from domain.steps import Fulfilment, HoldRequest, KeyedEntry

NOT_AFTER_START = "not applied after submission"


def started_picking(fulfilments: list[Fulfilment]) -> bool:
    return any(not f.cancelled and (f.picked_at is not None or f.shipment is not None) for f in fulfilments)


def gift_changes(lines: list[OrderLine], gifts: list[AddGift]) -> tuple[list[LineChange], list[str]]:
    """The line changes that give the order exactly the gifts the rules now give, and what they say."""
    channel = {line.sku for line in lines if not line.gift}
    wanted: dict[str, AddGift] = {}
    for gift in gifts:
        if gift.sku not in channel:
            wanted.setdefault(gift.sku, gift)
    on_order = {line.sku for line in lines if line.gift}
    changes = [LineChange(sku, 0) for sku in sorted(on_order - set(wanted))]
    said = [f"gift {sku} withdrawn" for sku in sorted(on_order - set(wanted))]
    for sku, gift in wanted.items():
        if sku not in on_order:
            changes.append(LineChange(sku, gift.quantity, 0, gift=True, gift_required=gift.required))
            said.append(f"gift {describe(gift).removeprefix('added ')} added")
    return changes, said


def rules_after_edit(
    lines: list[OrderLine], fulfilments: list[Fulfilment], before: list[RuleFiring], fired: list[RuleVersion]
) -> tuple[list[LineChange], RulesAfterEdit]:
    """`lines`: the order's lines as the edit leaves them; `before`: the rules that fired on it so far;
    `fired`: the rules whose condition holds on the edited order, in running order."""
    changes, said = gift_changes(lines, decide(fired).gifts)
    picking = started_picking(fulfilments)
    if changes and picking:
        changes, said = [], ["gifts unchanged: picking has started"]
    known = {firing.rule.partition("@")[0] for firing in before}
    approvals: list[str] = []
    hold: Hold | None = None
    tags: list[str] = []
    firings: list[RuleFiring] = []
    for rule in fired:
        if str(rule.rule_id) in known:
            continue
        did: list[str] = []
        skipped: list[str] = []
        for action in rule.then:
            if isinstance(action, RequireApproval):
                approvals.append(f"{action.reason} ({rule.label()})")
            elif isinstance(action, Hold):
                if hold is not None:
                    skipped.append("hold overridden by an earlier rule")
                    continue
                hold = action
            elif isinstance(action, Tag):
                tags.extend(t for t in action.tags if t not in tags)
            elif isinstance(action, AddGift):
                if picking:
                    skipped.append("add_gift not applied: picking has started")
                    continue
            else:
                skipped.append(f"{ACTION_NAMES[type(action)]} {NOT_AFTER_START}")
                continue
            did.append(describe(action))
        firings.append(RuleFiring(rule.ref, rule.name, did, skipped))
    parts = said + [f.summary() for f in firings]
    return changes, RulesAfterEdit(
        approvals=approvals,
        hold_reason=hold.reason if hold else None,
        hold_hours=hold.hours if hold else None,
        tags=tags,
        firings=firings,
        summary=f"after the edit: {'; '.join(parts)}" if parts else "",
    )


def apply_rules_after_edit(
    state: OrderState, now: datetime, rules: RulesAfterEdit
) -> tuple[list[KeyedEntry], HoldRequest | None]:
    """Apply what the rules decided (the gifts came with the edit's lines); the timeline entries, and
    the hold it put the order on, if any."""
    policy = state.policy
    entries = [state.note(now, "rules", rules.summary, "rules")]
    past_approval = state.approved is not None or bool(state.fulfilments) or bool(state.waiting)
    hold_reason = f"{rules.hold_reason} (after an edit)" if rules.hold_reason else None
    approvals = list(policy.approval_reasons)
    if rules.approvals and (state.awaiting_approval or not past_approval):
        approvals += rules.approvals
    elif rules.approvals:
        hold_reason = hold_reason or f"approval required after an edit: {'; '.join(rules.approvals)}"
    state.policy = replace(
        policy,
        approval_reasons=approvals,
        tags=[*policy.tags, *(t for t in rules.tags if t not in policy.tags)],
        rules=[*policy.rules, *rules.firings],
    )
    hold = None
    closed = state.cancel is not None or state.done or state.all_shipped()
    if hold_reason and state.hold is None and not closed:
        until = now + timedelta(hours=rules.hold_hours) if rules.hold_hours and rules.hold_reason else None
        hold = HoldRequest(hold_reason, "rules", until)
        entries.append(OrderControls(state).put_on_hold(now, hold))
    return entries, hold
