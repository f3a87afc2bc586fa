"""/v1/orders: submit, read and list orders."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from api import ordering
from api.deps import SessionDep, SessionsDep, SettingsDep, TemporalDep
from api.problems import Problem, ProblemError, not_found
from api.readmodel import order_from_read_model
from api.schemas import Money, OrderAccepted, OrderOut, OrderPage, OrderSummary, SubmitOrder
from domain.orders import OrderStatus, is_order_id, workflow_id_for
from store import orders

router = APIRouter(prefix="/v1/orders", tags=["orders"])

PROBLEMS: dict[int | str, dict[str, Any]] = {404: {"model": Problem}, 409: {"model": Problem}, 422: {"model": Problem}}


@router.post(
    "",
    status_code=201,
    responses={
        200: {"model": OrderAccepted, "description": "the same order was submitted before"},
        **PROBLEMS,
    },
)
async def submit_order(
    body: SubmitOrder, temporal: TemporalDep, sessions: SessionsDep, settings: SettingsDep, response: Response
) -> OrderAccepted:
    accepted = await ordering.submit(temporal, sessions, settings, body.to_domain())
    if accepted.existing:
        response.status_code = 200
    response.headers["Location"] = f"/v1/orders/{accepted.order_id}"
    return OrderAccepted(
        order_id=accepted.order_id,
        status=accepted.status,
        workflow_id=workflow_id_for(accepted.order_id),
        existing=accepted.existing,
    )


@router.get("/{order_id}", responses={404: {"model": Problem}})
async def get_order(order_id: str, temporal: TemporalDep, session: SessionDep) -> OrderOut:
    if not is_order_id(order_id):
        raise not_found(f"order {order_id}")
    view = await ordering.live_view(temporal, order_id)
    if view is not None:
        return OrderOut.from_view(view)
    recorded = await order_from_read_model(session, order_id)
    if recorded is None:
        raise not_found(f"order {order_id}")
    return recorded


@router.get("", responses={422: {"model": Problem}})
async def list_orders(
    session: SessionDep,
    status: OrderStatus | None = None,
    channel: Annotated[str | None, Query(max_length=32)] = None,
    external_id: Annotated[str | None, Query(max_length=64)] = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> OrderPage:
    try:
        after = orders.decode_cursor(cursor) if cursor else None
    except ValueError as err:
        raise ProblemError(422, "Invalid request", str(err), []) from None
    rows, next_cursor = await orders.page(
        session,
        orders.OrderFilter(
            status=status.value if status else None,
            channel=channel,
            external_id=external_id,
            created_after=created_after,
            created_before=created_before,
        ),
        limit,
        after,
    )
    return OrderPage(
        items=[
            OrderSummary(
                order_id=r.order_id,
                status=OrderStatus(r.status),
                channel=r.channel,
                external_id=r.external_id,
                customer_id=r.customer_id,
                total=Money.of(r.total, r.currency),
                created_at=r.created_at,
                updated_at=r.updated_at,
            )
            for r in rows
        ],
        next_cursor=next_cursor,
    )
