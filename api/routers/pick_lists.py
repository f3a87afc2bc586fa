"""/v1/pick-lists: the warehouse reports a pick list as picked."""

from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncSession

from api import audit
from api.access import Warehouse
from api.deps import IdPath, SessionDep, TemporalDep
from api.order_schemas import PickConfirmed, PickConfirmIn
from api.problems import Problem, ProblemError, not_found
from domain.access import Principal, Role
from domain.steps import PickConfirmation
from gateway import orders as gateway
from store import fulfilment, partners

router = APIRouter(prefix="/v1/pick-lists", tags=["warehouse"])


async def _acts_for(session: AsyncSession, caller: Principal, warehouse: str) -> bool:
    """Whether `caller` may act on the warehouse's pick lists: a partner key only for its own
    (active) partner's warehouses; handlers and admins for all."""
    if caller.role is not Role.PARTNER:
        return True
    row = await partners.active(session, caller.partner_id) if caller.partner_id else None
    return row is not None and partners.partner_of(row).speaks_for_warehouse(warehouse)


@router.post(
    "/{pick_list_id}/confirm",
    status_code=202,
    responses={404: {"model": Problem}, 409: {"model": Problem}},
)
async def confirm_pick_list(
    pick_list_id: IdPath,
    caller: Warehouse,
    request: Request,
    temporal: TemporalDep,
    session: SessionDep,
    body: PickConfirmIn | None = None,
) -> PickConfirmed:
    """Accepted (202): the order's workflow moves on to shipping. Confirming twice is harmless.

    The warehouse's callback: a partner key (or a handler or admin key). A partner key confirms only
    the pick lists of its partner's warehouses; others are 404 to it. `confirmed_by` names the person
    who picked; without it the timeline names the key."""
    pick_list = await fulfilment.get_pick_list(session, pick_list_id)
    if pick_list is None or not await _acts_for(session, caller, pick_list.warehouse):
        raise not_found(f"pick list {pick_list_id}")
    audit.target(request, pick_list.order_id)
    if pick_list.state != "open":
        raise ProblemError(409, f"Pick list is {pick_list.state}", f"{pick_list_id} is {pick_list.state}, not open")
    confirmed_by = (body.confirmed_by if body else None) or caller.actor
    await gateway.confirm_pick(temporal, pick_list.order_id, PickConfirmation(pick_list_id, confirmed_by))
    return PickConfirmed(pick_list_id=pick_list_id, order_id=pick_list.order_id, accepted=True)
