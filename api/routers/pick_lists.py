"""/v1/pick-lists: the warehouse reports a pick list as picked."""

from fastapi import APIRouter

from api.deps import SessionDep, TemporalDep
from api.problems import Problem, ProblemError, not_found
from api.schemas import PickConfirmed, PickConfirmIn
from domain.orders import workflow_id_for
from domain.steps import PickConfirmation
from store import fulfilment

router = APIRouter(prefix="/v1/pick-lists", tags=["warehouse"])


@router.post(
    "/{pick_list_id}/confirm",
    status_code=202,
    responses={404: {"model": Problem}, 409: {"model": Problem}},
)
async def confirm_pick_list(
    pick_list_id: str, temporal: TemporalDep, session: SessionDep, body: PickConfirmIn | None = None
) -> PickConfirmed:
    """Accepted (202): the order's workflow moves on to shipping. Confirming twice is harmless."""
    pick_list = await fulfilment.get_pick_list(session, pick_list_id)
    if pick_list is None:
        raise not_found(f"pick list {pick_list_id}")
    if pick_list.state != "open":
        raise ProblemError(409, f"Pick list is {pick_list.state}", f"{pick_list_id} is {pick_list.state}, not open")
    confirmed_by = body.confirmed_by if body else "warehouse"
    await temporal.get_workflow_handle(workflow_id_for(pick_list.order_id)).signal(
        "confirm_pick", PickConfirmation(pick_list_id, confirmed_by)
    )
    return PickConfirmed(pick_list_id=pick_list_id, order_id=pick_list.order_id, accepted=True)
