"""The business rules evaluated again on an edit, before it goes to the order's workflow: the same
decision-outside, apply-inside split as at submission (rules/engine.py, domain/edit_rules.py)."""

from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from domain.edit_rules import rules_after_edit
from domain.order_edits import EditOrder, preview_edit
from domain.order_state import Refusal
from domain.steps import OrderView
from rules import engine as rules_engine
from rules.engine import ActiveRules


async def with_rules(session: AsyncSession, active_rules: ActiveRules, view: OrderView, edit: EditOrder) -> EditOrder:
    """The edit with what the active rules decide on the order as it would leave it: gifts as line
    changes (a SKU the edit itself names is left as the person set it), the rest in `rules`. Unchanged
    when the edit changes neither lines, prices nor priority, when no rule is active, or when the edit
    does not apply (the workflow answers that)."""
    ruleset = await active_rules.get(session)
    if not ruleset.rules:
        return edit
    try:
        plan = preview_edit(view, edit)
    except Refusal:
        return edit
    if not (plan.changed or plan.difference or plan.priority is not view.order.priority):
        return edit
    edited = replace(view.order, lines=[line for line in plan.lines if not line.gift], priority=plan.priority)
    fired = await rules_engine.fired_on_edited(session, ruleset, edited, datetime.now(UTC))
    changes, rules = rules_after_edit(plan.lines, view.fulfilments, view.rules, fired)
    if not rules:
        return edit
    named = {change.sku for change in edit.changes}
    return replace(edit, changes=[*edit.changes, *(c for c in changes if c.sku not in named)], rules=rules)
