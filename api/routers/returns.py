"""Returns (RMA): request one for shipped units of an order, list and read them, approve or decline
them (handler keys), and report what arrived (the warehouse: partner or handler keys).

Each return is a workflow of its own (`workflows/returns.py`); its read model answers lists and
returns whose workflow has finished."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from api import audit, returning
from api.access import Handler, Operator, Warehouse
from api.change_schemas import DecisionIn, ReceiveIn, ReturnIn, ReturnListOut, ReturnOut
from api.deps import IdPath, OrderIdPath, SessionsDep, SettingsDep, TemporalDep
from api.problems import Problem, not_found
from api.routers.controls import RESPONSES
from domain.access import Role
from domain.contract import Update
from domain.orders import is_order_id
from domain.returns import ReceivedLine, ReturnDecision, ReturnLine, ReturnReceipt, ReturnStatus
from store import partners, returns

router = APIRouter(tags=["returns"])


async def _out(temporal: TemporalDep, sessions: SessionsDep, return_id: str) -> ReturnOut:
    async with sessions() as s:
        row = await returns.get(s, return_id)
        if row is None:
            raise not_found(f"return {return_id}")
        note = await returns.credit_note_of(s, return_id)
    number = returns.shown_number(note.number) if note else None
    view = await returning.live_view(temporal, return_id)
    if view is not None:
        out = ReturnOut.from_view(view, row.currency)
        return out.model_copy(update={"credit_note": number or out.credit_note})
    return ReturnOut.from_row(row, number)


@router.post(
    "/v1/orders/{order_id}/returns",
    status_code=201,
    responses={404: {"model": Problem}, 422: {"model": Problem}},
)
async def request_return(
    order_id: OrderIdPath,
    body: ReturnIn,
    handler: Handler,
    temporal: TemporalDep,
    sessions: SessionsDep,
    settings: SettingsDep,
    response: Response,
) -> ReturnOut:
    """Units that shipped on the order (within `return_window_days` of delivery, or of shipping when
    delivery was never reported) and are not on another return. Approved by a handler (or by policy
    with `returns_auto_approve`); it expires if nothing arrives within `return_receive_days`."""
    if not is_order_id(order_id):
        raise not_found(f"order {order_id}")
    lines = [ReturnLine(line.sku, line.quantity, line.reason) for line in body.lines]
    return_id = await returning.request(temporal, sessions, settings, order_id, lines, body.note, handler.actor)
    response.headers["Location"] = f"/v1/returns/{return_id}"
    return await _out(temporal, sessions, return_id)


@router.get("/v1/returns", responses={422: {"model": Problem}})
async def list_returns(
    _: Operator,
    sessions: SessionsDep,
    status: ReturnStatus | None = None,
    order_id: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ReturnListOut:
    """Newest first, from the read model."""
    async with sessions() as s:
        rows = await returns.listing(s, status.value if status else None, order_id, None, limit)
        notes = {r.return_id: await returns.credit_note_of(s, r.return_id) for r in rows}
    return ReturnListOut(
        returns=[
            ReturnOut.from_row(r, returns.shown_number(n.number) if (n := notes[r.return_id]) else None) for r in rows
        ]
    )


@router.get("/v1/returns/{return_id}", responses={404: {"model": Problem}})
async def get_return(return_id: IdPath, _: Operator, temporal: TemporalDep, sessions: SessionsDep) -> ReturnOut:
    return await _out(temporal, sessions, return_id)


RETURN_RESPONSES: dict[int | str, dict[str, Any]] = RESPONSES


def _audited(request: Request, out: ReturnOut) -> ReturnOut:
    """The audit log names the return's order (its path does not)."""
    audit.target(request, out.order_id)
    return out


@router.post("/v1/returns/{return_id}/approve", responses=RETURN_RESPONSES)
async def approve_return(
    return_id: IdPath,
    handler: Handler,
    request: Request,
    temporal: TemporalDep,
    sessions: SessionsDep,
    body: DecisionIn | None = None,
) -> ReturnOut:
    """Approve a requested return: it gets a return label and waits for the goods."""
    decision = ReturnDecision(handler.actor, body.note if body else "")
    await returning.control(temporal, sessions, return_id, Update.APPROVE_RETURN, decision, "approve")
    return _audited(request, await _out(temporal, sessions, return_id))


@router.post("/v1/returns/{return_id}/decline", responses=RETURN_RESPONSES)
async def decline_return(
    return_id: IdPath,
    body: DecisionIn,
    handler: Handler,
    request: Request,
    temporal: TemporalDep,
    sessions: SessionsDep,
) -> ReturnOut:
    decision = ReturnDecision(handler.actor, body.note)
    await returning.control(temporal, sessions, return_id, Update.DECLINE_RETURN, decision, "decline")
    return _audited(request, await _out(temporal, sessions, return_id))


@router.post("/v1/returns/{return_id}/receive", responses=RETURN_RESPONSES)
async def receive_return(
    return_id: IdPath,
    body: ReceiveIn,
    caller: Warehouse,
    request: Request,
    temporal: TemporalDep,
    sessions: SessionsDep,
    settings: SettingsDep,
) -> ReturnOut:
    """What arrived, per line, with a disposition: `restock` goes back on hand (a `return` ledger entry),
    `damaged` is refunded but not restocked, `missing` is neither. Every requested unit must be reported.
    The same `report_id` sent again acts once. The refund follows: a credit note against the invoices.
    A partner key reports only returns of orders shipped from its partner's warehouses, into one of
    them (`warehouse`); any other is 404 to it."""
    receipt = ReturnReceipt(
        body.report_id,
        [ReceivedLine(line.sku, line.quantity, line.disposition) for line in body.lines],
        body.warehouse or settings.default_warehouse,
        caller.actor,
    )
    if caller.role is Role.PARTNER:  # bound to its partner, like its pick-list confirmations
        async with sessions() as s:
            row = await partners.active(s, caller.partner_id) if caller.partner_id else None
        partner = partners.partner_of(row) if row is not None else None
        if partner is None or await returning.receivable_by(sessions, partner, return_id, receipt.warehouse) is None:
            raise not_found(f"return {return_id}")
    await returning.control(temporal, sessions, return_id, Update.RECEIVE_RETURN, receipt, f"receive:{body.report_id}")
    return _audited(request, await _out(temporal, sessions, return_id))
