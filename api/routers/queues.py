"""/v1/exceptions and /v1/alerts: what needs people, across all orders, from the read model."""

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.access import Handler, Operator
from api.deps import IdPath, SessionDep
from api.limits import PageLimit
from api.order_schemas import AlertOut, AlertPage, ExceptionListItem, ExceptionPage
from api.problems import Problem, invalid, not_found
from domain.exceptions import Action, ExceptionKind
from domain.money import format_minor
from domain.orders import InvalidField, OrderStatus
from store import orders
from store.tables import AlertRow

router = APIRouter(tags=["exceptions and alerts"])

Cursor = Annotated[str | None, Query(max_length=300)]


def _after(cursor: str | None) -> tuple[datetime, str] | None:
    try:
        return orders.decode_cursor(cursor) if cursor else None
    except ValueError as err:
        raise invalid([InvalidField("cursor", str(err))]) from None


def _alert_out(a: AlertRow) -> AlertOut:
    return AlertOut(
        alert_id=a.alert_id,
        kind=a.kind,
        order_id=a.order_id,
        exception_id=a.exception_id,
        level=a.level,
        message=a.message,
        raised_at=a.raised_at,
        acknowledged_at=a.acknowledged_at,
        acknowledged_by=a.acknowledged_by,
    )


@router.get("/v1/exceptions", responses={422: {"model": Problem}})
async def list_exceptions(
    _: Operator,
    session: SessionDep,
    limit: PageLimit,
    status: Literal["open", "all"] = "open",
    kind: ExceptionKind | None = None,
    order_id: Annotated[str | None, Query(max_length=100)] = None,
    cursor: Cursor = None,
) -> ExceptionPage:
    """The exception queue: oldest first, with the order, the age, the escalation level and what may be done."""
    rows = await orders.exception_page(
        session, status == "open", kind.value if kind else None, order_id, limit + 1, _after(cursor)
    )
    now = datetime.now(UTC)
    items = [
        ExceptionListItem(
            exception_id=e.exception_id,
            order_id=o.order_id,
            order_summary=f"{o.channel} {o.external_id} · {format_minor(o.total, o.currency)} {o.currency}",
            order_status=OrderStatus(o.status),
            kind=ExceptionKind(e.kind),
            step=e.step,
            message=e.message,
            raised_at=e.raised_at,
            # A resolved exception's age stopped when it was resolved.
            age_seconds=int(((e.resolved_at or now) - e.raised_at).total_seconds()),
            escalation_level=e.escalation_level,
            allowed_actions=[Action(a) for a in e.allowed_actions],
            resolved_at=e.resolved_at,
            resolution=e.resolution,
        )
        for e, o in rows[:limit]
    ]
    last = rows[limit - 1][0] if len(rows) > limit else None
    return ExceptionPage(
        items=items, next_cursor=orders.encode_cursor(last.raised_at, last.exception_id) if last else None
    )


@router.get("/v1/alerts", responses={422: {"model": Problem}})
async def list_alerts(
    _: Operator,
    session: SessionDep,
    limit: PageLimit,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    order_id: Annotated[str | None, Query(max_length=100)] = None,
    acknowledged: bool | None = None,
    cursor: Cursor = None,
) -> AlertPage:
    """Alerts, newest first."""
    rows = await orders.alert_page(session, kind, order_id, acknowledged, limit + 1, _after(cursor))
    last = rows[limit - 1] if len(rows) > limit else None
    return AlertPage(
        items=[_alert_out(a) for a in rows[:limit]],
        next_cursor=orders.encode_cursor(last.raised_at, last.alert_id) if last else None,
    )


@router.post("/v1/alerts/{alert_id}/acknowledge", responses={404: {"model": Problem}})
async def acknowledge_alert(alert_id: IdPath, handler: Handler, session: SessionDep) -> AlertOut:
    alert = await orders.acknowledge_alert(session, alert_id, handler.actor)
    if alert is None:
        raise not_found(f"alert {alert_id}")
    return _alert_out(alert)
