"""People acting on an order: resolve its exceptions, cancel, hold, release, re-address, approve, reject.

Each is a Temporal update with a validator: 200 with the order's new view when it applies, 409 with the
reason when it does not (and nothing changes), 404 for an unknown order or exception. Handler keys (and
admin keys) may act; the order's timeline names the key that did, as `key:<name>`.
"""

from typing import Any

from fastapi import APIRouter

from api import ordering
from api.access import Handler
from api.deps import IdPath, OrderIdPath, SessionsDep, TemporalDep
from api.order_schemas import CancelIn, ChangeAddressIn, HoldIn, NoteIn, OrderOut, ResolveIn
from api.problems import Problem, not_found
from domain.contract import Update
from domain.orders import Address, is_order_id
from domain.steps import CancelRequest, ChangeAddress, ControlRequest, HoldRequest, ResolveException

router = APIRouter(prefix="/v1/orders/{order_id}", tags=["order controls"])

RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem},
    409: {"model": Problem, "description": "the request does not apply to the order as it stands"},
    422: {"model": Problem},
    503: {"model": Problem, "description": "no worker took the request in time; safe to retry"},
}


async def _send(
    temporal: TemporalDep,
    sessions: SessionsDep,
    order_id: str,
    update: Update,
    request: object,
    update_id: str | None = None,
) -> OrderOut:
    if not is_order_id(order_id):
        raise not_found(f"order {order_id}")
    return OrderOut.from_view(await ordering.control(temporal, sessions, order_id, update, request, update_id))


@router.post("/exceptions/{exception_id}/resolve", responses=RESPONSES)
async def resolve_exception(
    order_id: OrderIdPath,
    exception_id: IdPath,
    body: ResolveIn,
    handler: Handler,
    temporal: TemporalDep,
    sessions: SessionsDep,
) -> OrderOut:
    """Resolve an open exception with one of its `allowed_actions`. Sending the same resolution again
    returns the order as it is without acting twice."""
    ship_to = Address(**body.ship_to.model_dump()) if body.ship_to else None
    request = ResolveException(exception_id, body.action, handler.actor, body.note, ship_to)
    return await _send(
        temporal, sessions, order_id, Update.RESOLVE_EXCEPTION, request, f"resolve:{exception_id}:{body.action}"
    )


@router.post("/cancel", responses=RESPONSES)
async def cancel_order(
    order_id: OrderIdPath, body: CancelIn, handler: Handler, temporal: TemporalDep, sessions: SessionsDep
) -> OrderOut:
    """Cancel until the order ships: the open pick list is cancelled and reserved stock released."""
    return await _send(temporal, sessions, order_id, Update.CANCEL, CancelRequest(body.reason, handler.actor), "cancel")


@router.post("/cancel-remainder", responses=RESPONSES)
async def cancel_remainder(
    order_id: OrderIdPath, body: CancelIn, handler: Handler, temporal: TemporalDep, sessions: SessionsDep
) -> OrderOut:
    """Cancel what has not shipped of a partly shipped order: backordered lines and parts not picked yet.
    Their stock goes back, and the order completes with (and is invoiced for) what shipped. 409 when
    nothing has shipped (cancel the order instead) or nothing remains."""
    request = CancelRequest(body.reason, handler.actor)
    return await _send(temporal, sessions, order_id, Update.CANCEL_REMAINDER, request, "cancel-remainder")


@router.post("/hold", responses=RESPONSES)
async def hold_order(
    order_id: OrderIdPath, body: HoldIn, handler: Handler, temporal: TemporalDep, sessions: SessionsDep
) -> OrderOut:
    """The order finishes the step it is on and waits before the next, until released (or `until`)."""
    return await _send(temporal, sessions, order_id, Update.HOLD, HoldRequest(body.reason, handler.actor, body.until))


@router.post("/release", responses=RESPONSES)
async def release_order(
    order_id: OrderIdPath,
    handler: Handler,
    temporal: TemporalDep,
    sessions: SessionsDep,
    body: NoteIn | None = None,
) -> OrderOut:
    request = ControlRequest(handler.actor, body.note if body else "")
    return await _send(temporal, sessions, order_id, Update.RELEASE, request)


@router.post("/change-address", responses=RESPONSES)
async def change_address(
    order_id: OrderIdPath, body: ChangeAddressIn, handler: Handler, temporal: TemporalDep, sessions: SessionsDep
) -> OrderOut:
    """Ship somewhere else, until the order ships. Resolves an open `address_rejected` exception."""
    request = ChangeAddress(Address(**body.ship_to.model_dump()), handler.actor, body.note)
    return await _send(temporal, sessions, order_id, Update.CHANGE_ADDRESS, request)


@router.post("/approve", responses=RESPONSES)
async def approve_order(
    order_id: OrderIdPath,
    handler: Handler,
    temporal: TemporalDep,
    sessions: SessionsDep,
    body: NoteIn | None = None,
) -> OrderOut:
    request = ControlRequest(handler.actor, body.note if body else "")
    return await _send(temporal, sessions, order_id, Update.APPROVE, request, "approve")


@router.post("/reject", responses=RESPONSES)
async def reject_order(
    order_id: OrderIdPath, body: NoteIn, handler: Handler, temporal: TemporalDep, sessions: SessionsDep
) -> OrderOut:
    """Reject an order waiting for approval: it is cancelled."""
    request = ControlRequest(handler.actor, body.note)
    return await _send(temporal, sessions, order_id, Update.REJECT, request, "reject")
