"""What every console page shares: templates, the request's language, and role checks taken from the API's."""

from pathlib import Path
from typing import Any, get_args

from fastapi import Request
from fastapi.params import Depends as DependsParam
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BeforeValidator

from api.access import Handler, Operator, OrderReader, RoleCheck, RuleEditor, RuleReader
from api.console import i18n
from api.console.sessions import CSRF_FIELD
from api.problems import ProblemError, problem_of
from config import Settings
from domain.access import Principal
from domain.contract import order_workflow_id
from gateway.errors import GatewayError

HERE = Path(__file__).parent


def _none_if_blank(value: object) -> object:
    return None if value == "" else value


# A filter a form sends empty when "any" is chosen: `Annotated[OrderStatus | None, OrBlank] = None`.
OrBlank = BeforeValidator(_none_if_blank)
templates = Jinja2Templates(directory=HERE / "templates")


def roles_of(alias: object) -> RoleCheck:
    """The API's role check behind an `Annotated[Principal, Depends(require(...))]` alias."""
    for meta in get_args(alias)[1:]:
        if isinstance(meta, DependsParam) and isinstance(meta.dependency, RoleCheck):
            return meta.dependency
    raise TypeError(f"{alias} has no role check")


# The console admits exactly whom the matching API routes admit.
ACTS = roles_of(Handler)  # resolve exceptions, hold, release, cancel, re-address, approve, reject
OPERATES = roles_of(Operator)  # the exception queue, stock, alerts
READS_ORDERS = roles_of(OrderReader)
READS_RULES = roles_of(RuleReader)
EDITS_RULES = roles_of(RuleEditor)


def may(principal: Principal, check: RoleCheck) -> bool:
    return principal.may(check.roles)


def translator(request: Request) -> i18n.Translator:
    return i18n.Translator(i18n.negotiate(request.cookies.get(i18n.COOKIE), request.headers.get("accept-language")))


def temporal_ui(settings: Settings, order_id: str) -> str:
    base = settings.temporal_ui_url or f"http://{settings.api_host}:{settings.temporal_ui_port}"
    return f"{base.rstrip('/')}/namespaces/{settings.temporal_namespace}/workflows/{order_workflow_id(order_id)}"


def render(
    request: Request, template: str, principal: Principal | None, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    t = translator(request)
    return templates.TemplateResponse(
        request,
        template,
        {
            "t": t,
            "lang": t.language,
            "me": principal,
            "csrf": getattr(request.state, "console_csrf", ""),
            "csrf_field": CSRF_FIELD,
            "can_act": principal is not None and may(principal, ACTS),
            "can_operate": principal is not None and may(principal, OPERATES),
            "can_read_orders": principal is not None and may(principal, READS_ORDERS),
            "can_read_rules": principal is not None and may(principal, READS_RULES),
            "can_edit_rules": principal is not None and may(principal, EDITS_RULES),
            **context,
        },
        status_code=status_code,
    )


def forbidden_page(request: Request, me: Principal) -> HTMLResponse:
    return render(request, "error.html", me, status_code=403, message_key="error.forbidden")


def forbidden_result(request: Request, me: Principal) -> HTMLResponse:
    """The answer to an action in a page (an htmx fragment) that the key's role may not take."""
    return render(request, "_result.html", me, status_code=403, ok=False, message_key="error.forbidden", detail="")


def refused_result(
    request: Request, me: Principal, refused: ProblemError | GatewayError, detail: str = ""
) -> HTMLResponse:
    """An action the API refused, shown in place with the problem's status and detail."""
    err = problem_of(refused)
    return render(
        request,
        "_result.html",
        me,
        status_code=err.status,
        ok=False,
        message_key="result.refused",
        detail=detail or err.detail or err.title,
    )
