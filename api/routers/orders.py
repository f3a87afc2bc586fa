"""/v1/orders: submit, read and list orders."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime

from api import ordering
from api.access import OrderReader, OrderSubmitter
from api.deps import ActiveProductsDep, ActiveRulesDep, OrderIdPath, SessionDep, SettingsDep, ShortWorkDep, TemporalDep
from api.foresight_view import with_expected_inbound
from api.limits import PageLimit
from api.order_schemas import OrderAccepted, OrderOut, OrderPage, OrderSummary, SubmitOrder
from api.problems import Problem, ProblemError, invalid, not_found
from api.readmodel import order_from_read_model, with_late_reports
from api.return_view import with_returns
from api.schemas import Money
from domain.contract import order_workflow_id
from domain.orders import InvalidField, OrderStatus, is_order_id
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
    body: SubmitOrder,
    principal: OrderSubmitter,
    temporal: TemporalDep,
    short_work: ShortWorkDep,
    settings: SettingsDep,
    active_products: ActiveProductsDep,
    active_rules: ActiveRulesDep,
    response: Response,
) -> OrderAccepted:
    """Submit an order. A channel key submits for its own channel only: another channel is 403, not
    404 — nothing exists yet to hide, and the caller learns exactly what is wrong with its request."""
    if principal.channel is not None and body.channel != principal.channel:
        raise ProblemError(
            403,
            "Forbidden",
            f"this key submits orders for channel {principal.channel} only",
            [InvalidField("channel", f"must be {principal.channel} for this key")],
        )
    if len(body.lines) > settings.max_order_lines:
        raise invalid([InvalidField("lines", f"at most {settings.max_order_lines} lines per order")])
    accepted = await ordering.submit(temporal, short_work, settings, active_products, body.to_domain(), active_rules)
    if accepted.existing:
        response.status_code = 200
    response.headers["Location"] = f"/v1/orders/{accepted.order_id}"
    return OrderAccepted(
        order_id=accepted.order_id,
        status=accepted.status,
        workflow_id=order_workflow_id(accepted.order_id),
        existing=accepted.existing,
    )


@router.get("/{order_id}", responses={404: {"model": Problem}})
async def get_order(order_id: OrderIdPath, _: OrderReader, temporal: TemporalDep, session: SessionDep) -> OrderOut:
    """One order, from its workflow (or the read model when no worker answers). A channel key sees only
    its own channel's orders: any other is 404, whether or not it exists."""
    if not is_order_id(order_id):
        raise not_found(f"order {order_id}")
    view = await ordering.live_view(temporal, order_id)
    if view is not None:
        out = OrderOut.from_view(view)
        # Reported delivered after its workflow closed: the read model has the rest.
        return await with_returns(
            session,
            await with_late_reports(session, out)
            if view.status is OrderStatus.COMPLETED
            else (await with_expected_inbound(session, out)),
        )
    recorded = await order_from_read_model(session, order_id)
    if recorded is None:
        raise not_found(f"order {order_id}")
    return await with_returns(session, await with_expected_inbound(session, recorded))


@router.get("", responses={422: {"model": Problem}})
async def list_orders(
    principal: OrderReader,
    session: SessionDep,
    limit: PageLimit,
    status: OrderStatus | None = None,
    channel: Annotated[str | None, Query(max_length=32)] = None,
    external_id: Annotated[str | None, Query(max_length=64)] = None,
    created_after: AwareDatetime | None = None,
    created_before: AwareDatetime | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    customer: Annotated[
        str | None,
        Query(min_length=1, max_length=254, description="the customer's ID, or e-mail or name (whole, any case)"),
    ] = None,
) -> OrderPage:
    """Orders, newest first. A channel key lists its own channel's orders only."""
    if principal.channel is not None:
        if channel not in (None, principal.channel):
            return OrderPage(items=[], next_cursor=None)
        channel = principal.channel
    try:
        after = orders.decode_cursor(cursor) if cursor else None
    except ValueError as err:
        raise invalid([InvalidField("cursor", str(err))]) from None
    rows, next_cursor = await orders.page(
        session,
        orders.OrderFilter(
            status=status.value if status else None,
            channel=channel,
            external_id=external_id,
            created_after=created_after,
            created_before=created_before,
            customer=customer,
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
