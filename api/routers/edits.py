"""Order edits before the goods leave: `POST /v1/orders/{id}/edits`, with `preview: true` to see what it
would do (new lines, the total's difference, the stock it needs) without changing anything.

The preview is computed from the order's live view by the same rules the workflow applies on commit
(`domain.order_edits`); the commit is the order's `edit_order` update: 200 with the order's new view,
409 with the reason when the edit does not apply (a line already picked or shipped, say).
"""

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter

from api import ordering
from api.access import Handler
from api.change_schemas import EditIn, EditPreviewOut
from api.deps import ActiveRulesDep, OrderIdPath, SessionsDep, TemporalDep
from api.edit_rules import with_rules
from api.order_schemas import OrderOut
from api.problems import Problem, ProblemError, invalid, not_found
from api.routers.controls import RESPONSES
from domain.contract import Update
from domain.order_edits import preview_edit
from domain.order_state import Refusal
from domain.orders import InvalidField, is_order_id
from store import catalog, inventory, orders

router = APIRouter(prefix="/v1/orders/{order_id}", tags=["order edits"])

EDIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **RESPONSES,
    200: {"model": EditPreviewOut | OrderOut, "description": "the preview, or the edited order"},
    422: {"model": Problem},
}


@router.post("/edits", responses=EDIT_RESPONSES)
async def edit_order(
    order_id: OrderIdPath,
    body: EditIn,
    handler: Handler,
    temporal: TemporalDep,
    sessions: SessionsDep,
    active_rules: ActiveRulesDep,
) -> EditPreviewOut | OrderOut:
    """Change lines (quantity 0 removes one; a new SKU adds one, with its `unit_price`), prices, the
    priority or the ship-by promise (`ship_by`, in the future, with a `reason`: the at-risk warning and
    the breach follow the new date). Parts not picked yet that carry a changed line are replaced: their
    pick lists close and their stock is released and reserved again in one transaction. Lines picked or
    shipped cannot change (409). The timeline records who edited and why (`reason`); subscribers get
    `order.edited`. Business rules run again on an edit of lines, prices or priority (docs/rules.md):
    gifts follow while nothing is picked; newly firing approvals, holds and tags apply (`rules` in the
    preview says what they would do)."""
    if not is_order_id(order_id):
        raise not_found(f"order {order_id}")
    view = await ordering.live_view(temporal, order_id)
    async with sessions() as s:
        recorded = await orders.get(s, order_id)
        if view is None and recorded is None:
            raise not_found(f"order {order_id}")
        currency = view.order.currency if view is not None else recorded.currency if recorded else ""
        edit = body.to_domain(currency, handler.actor, datetime.now(UTC))
        on_order = {line.sku for line in view.lines} if view is not None else set()
        if recorded is not None:
            on_order |= {line.sku for line in await orders.lines_of(s, order_id)}
        new_skus = sorted({c.sku for c in edit.changes if c.sku not in on_order})
        products = await catalog.products_by_sku(s, new_skus) if new_skus else {}
        problems = [
            InvalidField(
                f"lines[{i}].sku",
                f"{c.sku} is not in the catalog" if c.sku not in products else f"{c.sku} is not active",
            )
            for i, c in enumerate(edit.changes)
            if c.sku in new_skus and not (c.sku in products and products[c.sku].active)
        ]
        if problems:
            raise invalid(problems)
        if view is not None:
            edit = await with_rules(s, active_rules, view, edit)
        if not body.preview:
            request = edit
        else:
            if view is None:
                raise ProblemError(
                    409 if recorded and recorded.status in ("completed", "delivered", "cancelled") else 503,
                    "No live order",
                    "the order's workflow did not answer; an edit can only be previewed on a running order",
                )
            try:
                plan = preview_edit(view, edit)
            except Refusal as refusal:
                raise ProblemError(409, "Request does not apply", str(refusal)) from None
            _, stock = await inventory.snapshot(s, [line.sku for line in plan.to_reserve])
            available: dict[str, int] = {}
            for per_sku in stock.values():
                for sku, quantity in per_sku.items():
                    available[sku] = available.get(sku, 0) + quantity
            return EditPreviewOut.of(order_id, plan, currency, available, edit.rules.summary if edit.rules else "")
    return OrderOut.from_view(await ordering.control(temporal, sessions, order_id, Update.EDIT_ORDER, request))
