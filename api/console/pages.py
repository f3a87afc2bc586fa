"""Console pages that read: sign-in, dashboard, orders, stock. Each calls the API's own functions."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.console import i18n
from api.console.common import (
    OPERATES,
    READS_ORDERS,
    OrBlank,
    forbidden_page,
    forbidden_result,
    may,
    render,
    temporal_ui,
)
from api.console.kpis import KpiMemory
from api.console.sessions import COOKIE, CSRF_FIELD, LOGIN_COOKIE, PREFIX, Person, new_login_token
from api.deps import SessionDep, SessionsDep, SettingsDep, TemporalDep
from api.problems import ProblemError, problem_of
from api.routers import orders as order_routes
from domain.access import Principal
from domain.orders import OrderStatus
from gateway.errors import GatewayError
from store import console, keys
from store.db import READ_ONLY

router = APIRouter(prefix=PREFIX, include_in_schema=False)

FINAL = frozenset({OrderStatus.COMPLETED, OrderStatus.DELIVERED, OrderStatus.CANCELLED})


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


@router.get("")
async def home() -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/dashboard", status_code=303)


@router.get("/login")
async def login_page(request: Request, error: str | None = None) -> HTMLResponse:
    token = new_login_token()
    response = render(request, "login.html", None, login_token=token, error=error)
    response.set_cookie(
        LOGIN_COOKIE, token, max_age=600, httponly=True, samesite="strict", secure=_secure(request), path=PREFIX
    )
    return response


@router.post("/login")
async def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    api_key: Annotated[str, Form(max_length=200)],
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=100)] = "",
) -> Response:
    expected = request.cookies.get(LOGIN_COOKIE)
    if not expected or csrf_token != expected:
        raise ProblemError(403, "Forbidden", "missing or wrong CSRF token: reload the sign-in page")
    key = await keys.authenticate(session, api_key.strip())
    if key is None:
        return RedirectResponse(f"{PREFIX}/login?error=bad_key", status_code=303)
    lasts = timedelta(hours=settings.console_session_hours)
    signed = await console.open_session(session, key.key_id, lasts)
    response = RedirectResponse(f"{PREFIX}/dashboard", status_code=303)
    response.set_cookie(
        COOKIE,
        signed.token,
        max_age=int(lasts.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path=PREFIX,
    )
    response.delete_cookie(LOGIN_COOKIE, path=PREFIX)
    return response


@router.post("/logout")
async def logout(request: Request, _: Person, session: SessionDep) -> RedirectResponse:
    token = request.cookies.get(COOKIE)
    if token:
        await console.close_session(session, token)
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


@router.get("/lang/{language}")
async def switch_language(request: Request, language: str, next: str = PREFIX) -> RedirectResponse:
    """A preference, not a change to the system: a plain link, no session needed."""
    target = next if next.startswith(f"{PREFIX}/") or next == PREFIX else PREFIX
    response = RedirectResponse(target, status_code=303)
    if language in i18n.LANGUAGES:
        response.set_cookie(i18n.COOKIE, language, max_age=365 * 86400, samesite="lax", secure=_secure(request))
    return response


@router.get("/dashboard")
async def dashboard(request: Request, me: Person, session: SessionDep) -> HTMLResponse:
    return render(request, "dashboard.html", me, **await _dashboard_data(session, me))


@router.get("/dashboard/live")
async def dashboard_live(request: Request, me: Person, session: SessionDep) -> HTMLResponse:
    """What the dashboard polls every second."""
    return render(request, "_dashboard_live.html", me, **await _dashboard_data(session, me))


@router.get("/dashboard/kpis")
async def dashboard_kpis(request: Request, me: Person, sessions: SessionsDep) -> HTMLResponse:
    """The KPI tiles, a fragment of their own: the page does not wait for them (api/console/kpis.py)."""
    if not may(me, READS_ORDERS):  # as GET /v1/kpis; a channel key sees its own channel's figures
        return forbidden_result(request, me)
    memory: KpiMemory = request.app.state.console_kpis
    return render(request, "_kpi_tiles.html", me, board=await memory.get(sessions, me.channel))


async def _dashboard_data(session: SessionDep, me: Principal) -> dict[str, Any]:
    await session.connection(execution_options=READ_ONLY)
    now = datetime.now(UTC)
    operates = may(me, OPERATES)
    by_kind = await console.open_exceptions_by_kind(session, now) if operates else []
    raised = await console.exceptions_raised_per_hour(session, now - timedelta(hours=24)) if operates else []
    hourly = [0] * 24
    for at in raised:
        hourly[min(23, int((now - at).total_seconds() // 3600))] += 1
    return {
        "by_kind": by_kind,
        "age_buckets": console.AGE_BUCKETS_H,
        "open_total": sum(c.total for c in by_kind),
        "at_risk": await console.orders_at_risk(session, me.channel, 20) if may(me, READS_ORDERS) else [],
        "hourly": list(reversed(hourly)),  # oldest hour first
        "now": now,
    }


@router.get("/orders")
async def orders_page(
    request: Request,
    me: Person,
    session: SessionDep,
    q: Annotated[str, Query(max_length=100)] = "",
    status: Annotated[OrderStatus | None, OrBlank] = None,
    channel: Annotated[str | None, Query(max_length=32)] = None,
    created_after: Annotated[datetime | None, OrBlank] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    customer: Annotated[str, Query(max_length=254)] = "",
) -> HTMLResponse:
    """Search by order ID (opens it), external ID, customer, status, channel and date, through the API's
    own list."""
    if not may(me, READS_ORDERS):
        return forbidden_page(request, me)
    q = q.strip()
    if q and me.sees_order(q) and "-" in q:
        found = await order_routes.list_orders(me, session, 1, None, None, q.partition("-")[2], None, None, None)
        if any(o.order_id == q for o in found.items):
            return RedirectResponse(f"{PREFIX}/orders/{quote(q)}", status_code=303)  # type: ignore[return-value]
    after = created_after.replace(tzinfo=UTC) if created_after and created_after.tzinfo is None else created_after
    customer = customer.strip()
    page = await order_routes.list_orders(
        me, session, 50, status, channel or None, q or None, after, None, cursor, customer or None
    )
    return render(
        request,
        "orders.html",
        me,
        page=page,
        q=q,
        customer=customer,
        status=status.value if status else "",
        channel=channel or "",
        created_after=created_after.date().isoformat() if created_after else "",
        statuses=list(OrderStatus),
    )


@router.get("/orders/{order_id}")
async def order_page(
    request: Request, order_id: str, me: Person, temporal: TemporalDep, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    if not may(me, READS_ORDERS) or not me.sees_order(order_id):
        return render(request, "error.html", me, status_code=404, message_key="error.not_found")
    try:
        order = await order_routes.get_order(order_id, me, temporal, session)
    except (ProblemError, GatewayError) as refused:
        err = problem_of(refused)
        if err.status != 404:
            raise
        return render(request, "error.html", me, status_code=404, message_key="error.not_found")
    return render(
        request,
        "order.html",
        me,
        order=order,
        temporal_url=temporal_ui(settings, order_id),
        final=order.status in FINAL,
    )
