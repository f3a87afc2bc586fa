"""After an edit: what the business rules, evaluated again on the edited order, still do to it
(`domain.edit_rules`: approvals, holds, tags; gifts came with the edit's lines). Recorded as a `rules`
timeline entry; a hold with hours ends by itself like any timed hold.

New commands on a new path (an edit that carries the rules' decision), behind `EDIT_RULES`.
"""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.edit_rules import apply_rules_after_edit
    from domain.order_edits import EditOrder
    from domain.order_state import OrderState

from workflows.order.attention import Attention
from workflows.order.commands import Commands

EDIT_RULES = "edit-rules"


async def rules_after_edit(state: OrderState, commands: Commands, attention: Attention, req: EditOrder) -> None:
    if not req.rules or not workflow.patched(EDIT_RULES):
        return
    entries, hold = apply_rules_after_edit(state, workflow.now(), req.rules)
    if hold is not None and hold.until is not None:
        attention.spawn(attention.expire_hold(hold))
    await commands.project(entries)
