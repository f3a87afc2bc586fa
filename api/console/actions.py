"""The exception queue and the order controls: people acting, through the API's own control routes.

Each action calls the same function the API route does (api/routers/controls.py), so the workflow's
validator decides: the new state, or the 409 reason, comes back as a fragment shown in place.
"""

from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from api.audit import target
from api.console.common import ACTS, OPERATES, OrBlank, forbidden_page, forbidden_result, may, refused_result, render
from api.console.sessions import PREFIX, Person
from api.deps import SessionDep, SessionsDep, TemporalDep
from api.order_schemas import AddressIn, CancelIn, ChangeAddressIn, HoldIn, NoteIn, OrderOut, ResolveIn
from api.problems import ProblemError
from api.routers import controls
from domain.access import Principal
from domain.exceptions import Action, ExceptionKind
from gateway.errors import GatewayError
from store import console
from store.db import READ_ONLY

router = APIRouter(prefix=PREFIX, include_in_schema=False)

# Actions that open a form first; the rest are one button.
NEEDS_INPUT = frozenset({Action.CHANGE_ADDRESS})
Control = Literal["hold", "release", "cancel", "change-address", "approve", "reject"]
CONTROL_INPUT: dict[str, str] = {"hold": "reason", "cancel": "reason", "reject": "note", "change-address": "address"}
AGES = {"1h": 1, "4h": 4, "24h": 24}
# The oldest this many: what a person works through at once (the filters narrow it), and what renders fast.
QUEUE_ROWS = 100

Text = Annotated[str, Form(max_length=1000)]


@router.get("/exceptions")
async def exception_queue(
    request: Request,
    me: Person,
    session: SessionDep,
    kind: Annotated[ExceptionKind | None, OrBlank] = None,
    age: Literal["", "1h", "4h", "24h"] = "",
    level: Annotated[int | None, Query(ge=0, le=10), OrBlank] = None,
    channel: Annotated[str, Query(max_length=32)] = "",
    rows_only: bool = False,
) -> HTMLResponse:
    if not may(me, OPERATES):
        return forbidden_page(request, me)
    await session.connection(execution_options=READ_ONLY)
    now = datetime.now(UTC)
    filters = console.QueueFilter(
        kind=kind.value if kind else None,
        raised_before=now - timedelta(hours=AGES[age]) if age else None,
        min_level=level,
        channel=channel or None,
    )
    rows = await console.exception_queue(session, filters, QUEUE_ROWS)
    return render(
        request,
        "_queue_rows.html" if rows_only else "exceptions.html",
        me,
        rows=rows,
        more=len(rows) == QUEUE_ROWS,
        now=now,
        kinds=list(ExceptionKind),
        needs_input=NEEDS_INPUT,
        filters={"kind": kind.value if kind else "", "age": age, "level": level, "channel": channel},
    )


@router.get("/orders/{order_id}/exceptions/{exception_id}/form/{action}")
async def resolve_form(request: Request, order_id: str, exception_id: str, action: Action, me: Person) -> HTMLResponse:
    if not may(me, ACTS) or not me.sees_order(order_id):
        return forbidden_result(request, me)
    return render(request, "_resolve_form.html", me, order_id=order_id, exception_id=exception_id, action=action)


def _address(form: dict[str, str]) -> AddressIn:
    fields = ("name", "line1", "line2", "city", "region", "postal_code", "country")
    return AddressIn(
        **{f: form[f].strip() or None if f in ("line2", "region") else form[f] for f in fields if f in form}
    )


async def _act(request: Request, me: Principal, order_id: str, call: Awaitable[OrderOut]) -> HTMLResponse:
    target(request, order_id)
    try:
        order = await call
    except (ProblemError, GatewayError) as refused:
        return refused_result(request, me, refused)
    return render(request, "_result.html", me, ok=True, message_key="result.done", detail="", order=order)


def _invalid(request: Request, me: Principal, err: ValidationError) -> HTMLResponse:
    detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
    return render(request, "_result.html", me, status_code=422, ok=False, message_key="result.invalid", detail=detail)


@router.post("/orders/{order_id}/exceptions/{exception_id}/resolve")
async def resolve(
    request: Request,
    order_id: str,
    exception_id: str,
    me: Person,
    temporal: TemporalDep,
    sessions: SessionsDep,
    action: Annotated[Action, Form()],
    note: Text = "",
) -> HTMLResponse:
    if not may(me, ACTS) or not me.sees_order(order_id):
        return forbidden_result(request, me)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        ship_to = _address(form) if action is Action.CHANGE_ADDRESS else None
        body = ResolveIn(action=action, note=note, ship_to=ship_to)
    except ValidationError as err:
        return _invalid(request, me, err)
    return await _act(
        request, me, order_id, controls.resolve_exception(order_id, exception_id, body, me, temporal, sessions)
    )


@router.get("/orders/{order_id}/control/{control}")
async def control_form(request: Request, order_id: str, control: Control, me: Person) -> HTMLResponse:
    if not may(me, ACTS) or not me.sees_order(order_id):
        return forbidden_result(request, me)
    return render(request, "_control_form.html", me, order_id=order_id, control=control, input=CONTROL_INPUT[control])


@router.post("/orders/{order_id}/control/{control}")
async def control(
    request: Request,
    order_id: str,
    control: Control,
    me: Person,
    temporal: TemporalDep,
    sessions: SessionsDep,
    reason: Text = "",
    note: Text = "",
) -> HTMLResponse:
    if not may(me, ACTS) or not me.sees_order(order_id):
        return forbidden_result(request, me)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        match control:
            case "hold":
                call = controls.hold_order(order_id, HoldIn(reason=reason), me, temporal, sessions)
            case "release":
                call = controls.release_order(order_id, me, temporal, sessions, NoteIn(note=note))
            case "cancel":
                call = controls.cancel_order(order_id, CancelIn(reason=reason), me, temporal, sessions)
            case "change-address":
                body = ChangeAddressIn(ship_to=_address(form), note=note)
                call = controls.change_address(order_id, body, me, temporal, sessions)
            case "approve":
                call = controls.approve_order(order_id, me, temporal, sessions, NoteIn(note=note))
            case "reject":
                call = controls.reject_order(order_id, NoteIn(note=note), me, temporal, sessions)
    except ValidationError as err:
        return _invalid(request, me, err)
    return await _act(request, me, order_id, call)
