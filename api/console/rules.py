"""The rules editor: list, write (the condition checked as it is typed), simulate, activate, archive and
compare versions. Every step calls the function behind the matching /v1/rules route
(api/routers/rules.py) and its save-time compiler (rules/conditions.py); the role checks are the routes'.
"""

import difflib
import json
import re
import secrets
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from api.console.common import EDITS_RULES as EDITS
from api.console.common import READS_RULES as READS
from api.console.common import OrBlank, forbidden_page, forbidden_result, may, refused_result, render
from api.console.sessions import PREFIX, Person
from api.deps import ActiveRulesDep, SessionDep
from api.problems import ProblemError, field_path
from api.routers import rules as rule_routes
from api.rule_schemas import ActivateIn, RuleIn, RuleOut, SimulateIn
from domain.access import Principal
from domain.orders import InvalidField, Priority
from domain.rules import RouteMode, RuleStatus
from rules.conditions import MAX_LENGTH, ConditionError, compile_condition

router = APIRouter(prefix=f"{PREFIX}/rules", include_in_schema=False)

HOME = f"{PREFIX}/rules"

# Each action's form fields (name, input), in the API's action names (api/rule_schemas.py). Inputs:
# text, int, number, bool (a checkbox), tri (unchanged / yes / no), list (comma-separated), or a choice.
ACTION_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "add_gift": (("sku", "text"), ("quantity", "int"), ("required", "bool")),
    "require_approval": (("reason", "text"),),
    "hold": (("reason", "text"), ("hours", "number")),
    "set_priority": (("priority", "priority"),),
    "set_ship_by": (("hours", "number"),),
    "route": (("warehouses", "list"), ("mode", "mode")),
    "set_split": (("allow_split", "tri"), ("allow_partial", "tri")),
    "tag": (("tags", "list"),),
}
CHOICES = {"priority": [p.value for p in Priority], "mode": [m.value for m in RouteMode]}
SIMULATE_OVER = (100, 500, 2000)


def _token() -> str:
    return secrets.token_hex(4)


def _form_action(kind: str, values: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the action row template shows: a fresh token names its fields."""
    return {"tok": _token(), "kind": kind if kind in ACTION_FIELDS else "add_gift", "values": values or {}}


def _action_body(raw: dict[str, str]) -> dict[str, Any]:
    kind = raw.get("type", "")
    body: dict[str, Any] = {"type": kind}
    for name, input_kind in ACTION_FIELDS.get(kind, ()):
        text = raw.get(name, "").strip()
        if input_kind == "bool":
            body[name] = text == "on"
        elif input_kind == "tri":
            if text in ("true", "false"):
                body[name] = text == "true"
        elif input_kind == "list":
            body[name] = [part for part in re.split(r"[,\s]+", text) if part]
        elif text:
            body[name] = text
    return body


def _actions_of(form: FormData) -> list[dict[str, Any]]:
    """Action rows in the order the page shows them: fields `a.<token>.<name>`."""
    rows: dict[str, dict[str, str]] = {}
    for name, value in form.multi_items():
        parts = name.split(".", 2)
        if isinstance(value, str) and len(parts) == 3 and parts[0] == "a":
            rows.setdefault(parts[1], {})[parts[2]] = value
    return [_action_body(raw) for raw in rows.values()]


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _rule_body(form: FormData) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": _text(form, "name"),
        "description": _text(form, "description"),
        "when": _text(form, "when"),
        "then": _actions_of(form),
        "priority": _text(form, "priority").strip() or 100,
        "exclusive": _text(form, "exclusive") == "on",
    }
    for field in ("active_from", "active_to"):
        if at := _text(form, field).strip():
            body[field] = at if at.endswith("Z") or "+" in at else f"{at}+00:00"  # the form's times are UTC
    return body


def _field(loc: tuple[int | str, ...]) -> str:
    """A validation error's place as the API names it: ("then", 0, "add_gift", "sku") → "then[0].sku"."""
    kept = [p for i, p in enumerate(loc) if not (i and isinstance(loc[i - 1], int) and p in ACTION_FIELDS)]
    return field_path(kept)


def _rule_in(form: FormData) -> RuleIn:
    """The form as the API's request body; ProblemError (422) naming each field otherwise."""
    try:
        return RuleIn.model_validate(_rule_body(form))
    except ValidationError as err:
        raise ProblemError(
            422,
            "Invalid rule",
            "; ".join(f"{_field(e['loc'])}: {e['msg']}" for e in err.errors()),
            [InvalidField(_field(e["loc"]), e["msg"]) for e in err.errors()],
        ) from None


def _problems(request: Request, me: Principal, refused: ProblemError) -> HTMLResponse:
    return render(request, "_rule_problems.html", me, status_code=refused.problem.status, problem=refused.problem)


def _go(request: Request, url: str) -> Response:
    """After a change: htmx follows HX-Redirect; a plain form post follows the 303."""
    if "hx-request" in request.headers:
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def _form_of(rule: RuleOut | None) -> dict[str, Any]:
    """The editor's fields: a saved version, or a new rule's defaults (one gift action)."""
    if rule is None:
        return {
            "name": "",
            "description": "",
            "when": "",
            "priority": 100,
            "exclusive": False,
            "active_from": "",
            "active_to": "",
            "actions": [_form_action("add_gift", {"quantity": 1})],
        }
    actions = []
    for action in rule.then:
        values = {k: ", ".join(v) if isinstance(v, list) else v for k, v in action.items() if k != "type"}
        actions.append(_form_action(str(action["type"]), values))
    return {
        "name": rule.name,
        "description": rule.description,
        "when": rule.when,
        "priority": rule.priority,
        "exclusive": rule.exclusive,
        "active_from": _local(rule.active_from),
        "active_to": _local(rule.active_to),
        "actions": actions,
    }


def _local(at: datetime | None) -> str:
    """A datetime-local field's value: the form's times are UTC."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M") if at else ""


def _editor(**context: Any) -> dict[str, Any]:
    return {
        "action_fields": ACTION_FIELDS,
        "choices": CHOICES,
        "simulate_over": SIMULATE_OVER,
        "max_length": MAX_LENGTH,
        **context,
    }


@router.get("")
async def rules_page(
    request: Request,
    me: Person,
    session: SessionDep,
    status: Annotated[RuleStatus | None, OrBlank] = None,
    cursor: Annotated[int | None, Query(ge=0, le=rule_routes.INT32)] = None,
) -> HTMLResponse:
    if not may(me, READS):
        return forbidden_page(request, me)
    page = await rule_routes.list_rules(me, session, 100, status, cursor)
    return render(
        request, "rules.html", me, page=page, status=status.value if status else "", statuses=list(RuleStatus)
    )


@router.get("/new")
async def new_rule_page(request: Request, me: Person) -> HTMLResponse:
    if not may(me, EDITS):
        return forbidden_page(request, me)
    return render(request, "rule.html", me, rule=None, **_editor(form=_form_of(None)))


@router.post("/action")
async def action_row(request: Request, me: Person) -> HTMLResponse:
    """An action row: a new one (`type`), or the row `tok` switched to the type its select names. A POST
    (with the editor's form) because the select's field name carries the row's token."""
    if not may(me, EDITS):
        return forbidden_result(request, me)
    form = await request.form()
    tok = _text(form, "tok")
    action = _form_action(_text(form, f"a.{tok}.type") if tok else _text(form, "type"))
    if re.fullmatch(r"[0-9a-f]{1,16}", tok):
        action["tok"] = tok
    return render(request, "_rule_action.html", me, a=action, **_editor())


@router.post("/check")
async def check_condition(
    request: Request, me: Person, when: Annotated[str, Form(max_length=MAX_LENGTH + 1)] = ""
) -> HTMLResponse:
    """The save-time compiler on the condition as typed: its message, at its position."""
    if not may(me, EDITS):
        return forbidden_result(request, me)
    error: dict[str, Any] | None = None
    if when.strip():
        try:
            compile_condition(when)
        except ConditionError as err:
            error = _located(err, when)
    return render(request, "_rule_check.html", me, blank=not when.strip(), error=error)


def _located(err: ConditionError, source: str) -> dict[str, Any]:
    """The compiler's message as the API gives it, and the line it points into split at the position."""
    at = min(max(err.position, 0), len(source))
    start = source.rfind("\n", 0, at) + 1
    end = source.find("\n", at)
    line = source[start : end if end >= 0 else len(source)]
    column = at - start
    return {
        "kind": err.kind,
        "detail": rule_routes.condition_problem(err, source).problem.detail,
        "position": at,
        "line": source.count("\n", 0, at) + 1,
        "column": column + 1,
        "before": line[:column],
        "at": line[column : column + 1],
        "after": line[column + 1 :],
    }


@router.post("/simulate")
async def simulate(
    request: Request, me: Person, session: SessionDep, active: ActiveRulesDep, last: Annotated[int, Form()] = 500
) -> HTMLResponse:
    """The rule as it stands in the form, replayed over the newest orders (POST /v1/rules/simulate)."""
    if not may(me, EDITS):
        return forbidden_result(request, me)
    try:
        body = SimulateIn(rule=_rule_in(await request.form()), last=last if last in SIMULATE_OVER else 500)
        result = await rule_routes.simulate(body, me, session, active)
    except ProblemError as refused:
        return _problems(request, me, refused)
    return render(request, "_rule_simulation.html", me, sim=result)


@router.post("")
async def create_rule(request: Request, me: Person, session: SessionDep, active: ActiveRulesDep) -> Response:
    if not may(me, EDITS):
        return forbidden_result(request, me)
    try:
        saved = await rule_routes.create_rule(_rule_in(await request.form()), me, session, active)
    except ProblemError as refused:
        return _problems(request, me, refused)
    return _go(request, f"{HOME}/{saved.rule_id}")


@router.get("/{rule_id}")
async def rule_page(request: Request, rule_id: rule_routes.RuleIdPath, me: Person, session: SessionDep) -> HTMLResponse:
    if not may(me, READS):
        return forbidden_page(request, me)
    try:
        rule = await rule_routes.get_rule(rule_id, me, session)
    except ProblemError:
        return render(request, "error.html", me, status_code=404, message_key="rule.not_found")
    versions = await rule_routes.rule_versions(rule_id, me, session)
    firings = await rule_routes.rule_firings(rule_id, me, session, 20, None)
    latest = versions[0]
    return render(
        request,
        "rule.html",
        me,
        rule=rule,
        latest=latest,
        versions=[(v, _diff(older, v)) for v, older in zip(versions, [*versions[1:], None], strict=True)],
        firings=firings.items,
        **_editor(form=_form_of(latest)),
    )


def _as_lines(rule: RuleOut) -> list[str]:
    """A version as text to compare: one field per line, the condition line by line, one action per line."""
    return [
        f"name: {rule.name}",
        f"description: {rule.description}",
        f"priority: {rule.priority}",
        f"exclusive: {str(rule.exclusive).lower()}",
        f"active_from: {rule.active_from.isoformat() if rule.active_from else ''}",
        f"active_to: {rule.active_to.isoformat() if rule.active_to else ''}",
        "when:",
        *(f"  {line}" for line in rule.when.splitlines()),
        "then:",
        *(f"  - {json.dumps(a, ensure_ascii=False, sort_keys=True)}" for a in rule.then),
    ]


def _diff(older: RuleOut | None, newer: RuleOut) -> list[tuple[str, str]]:
    """(kind, text) per line of the unified diff from the previous version: add, del, hunk or same."""
    if older is None:
        return [("add", f"+{line}") for line in _as_lines(newer)]
    lines = difflib.unified_diff(_as_lines(older), _as_lines(newer), lineterm="", n=2)
    kinds = {"+": "add", "-": "del", "@": "hunk"}
    return [(kinds.get(line[:1], "same"), line) for line in lines if not line.startswith(("---", "+++"))]


@router.post("/{rule_id}")
async def save_rule(
    request: Request, rule_id: rule_routes.RuleIdPath, me: Person, session: SessionDep, active: ActiveRulesDep
) -> Response:
    """A new version (PUT /v1/rules/{id}); the active version stays active until this one is activated."""
    if not may(me, EDITS):
        return forbidden_result(request, me)
    try:
        await rule_routes.save_rule(rule_id, _rule_in(await request.form()), me, session, active)
    except ProblemError as refused:
        return _problems(request, me, refused)
    return _go(request, f"{HOME}/{rule_id}")


@router.post("/{rule_id}/activate")
async def activate_rule(
    request: Request,
    rule_id: rule_routes.RuleIdPath,
    me: Person,
    session: SessionDep,
    active: ActiveRulesDep,
    version: Annotated[int | None, Form(ge=1, le=rule_routes.INT32)] = None,
) -> Response:
    """Make a version the one that runs (default: the latest); activating an older one rolls back."""
    if not may(me, EDITS):
        return forbidden_result(request, me)
    try:
        await rule_routes.activate_rule(rule_id, me, session, active, ActivateIn(version=version))
    except ProblemError as refused:
        return refused_result(request, me, refused)
    return _go(request, f"{HOME}/{rule_id}")


@router.post("/{rule_id}/archive")
async def archive_rule(
    request: Request, rule_id: rule_routes.RuleIdPath, me: Person, session: SessionDep, active: ActiveRulesDep
) -> Response:
    if not may(me, EDITS):
        return forbidden_result(request, me)
    try:
        await rule_routes.archive_rule(rule_id, me, session, active)
    except ProblemError as refused:
        return refused_result(request, me, refused)
    return _go(request, f"{HOME}/{rule_id}")
