"""Console sign-in: an API key exchanged for a server-side session, and the CSRF token every change carries.

The cookie holds a random token (only its SHA-256 is stored, store/console.py); it is HttpOnly,
SameSite=Lax, Secure when the console is reached over HTTPS, and ends with the session
(`console_session_hours`) or when its key is revoked. `ConsoleSessionMiddleware` turns a valid cookie
into the same `Principal` the API's key check gives, before the audit log looks: a console action is
recorded like the API call it is. Every POST, and every htmx request, must carry the session's CSRF
token (`X-CSRF-Token` header, or the `csrf_token` form field) or it is refused with 403.
"""

import secrets
from typing import Annotated

import structlog
from fastapi import Depends, Request
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Receive, Scope, Send

from api.problems import ProblemError
from domain.access import Principal
from store import console, keys

log = structlog.get_logger(__name__)

PREFIX = "/console"
STATIC = f"{PREFIX}/static/"  # public files: no session lookup
COOKIE = "orderflow_console"
LOGIN_COOKIE = "orderflow_console_login"  # double-submit token for the sign-in form, before any session
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _cookie(scope: Scope, name: str) -> str | None:
    for header, value in scope["headers"]:
        if header == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, val = part.strip().partition("=")
                if key == name and val:
                    return str(val)
    return None


class ConsoleSessionMiddleware:
    """For /console paths: the session cookie's principal and CSRF token into the request's state."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX) and not scope["path"].startswith(STATIC):
            token = _cookie(scope, COOKIE)
            state = scope.setdefault("state", {})
            state.pop("principal", None)  # the console admits sessions only, never a bearer key
            if token:
                try:
                    async with scope["app"].state.sessions() as session:
                        found = await console.find_session(session, token)
                except (SQLAlchemyError, OSError) as err:
                    log.error("console session lookup failed", error=type(err).__name__)
                    found = None
                if found is not None:
                    row, key = found
                    state["principal"] = keys.principal_of(key)
                    state["console_csrf"] = row.csrf_token
                    with structlog.contextvars.bound_contextvars(actor=state["principal"].actor):
                        await self.app(scope, receive, send)
                    return
        await self.app(scope, receive, send)


class SignInRequired(Exception):
    """No valid session: the console sends the person to the sign-in page."""


def new_login_token() -> str:
    return secrets.token_urlsafe(24)


async def submitted_token(request: Request) -> str | None:
    token = request.headers.get(CSRF_HEADER)
    if token is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        token = value if isinstance(value, str) else None
    return token


async def signed_in(request: Request) -> Principal:
    """The session's principal; a change or an htmx request without the session's CSRF token is 403."""
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        raise SignInRequired
    if request.method not in SAFE_METHODS or "hx-request" in request.headers:
        expected: str = request.state.console_csrf
        given = await submitted_token(request)
        if given is None or not secrets.compare_digest(given.encode(), expected.encode()):
            raise ProblemError(403, "Forbidden", "missing or wrong CSRF token: reload the page and try again")
    return principal


Person = Annotated[Principal, Depends(signed_in)]
