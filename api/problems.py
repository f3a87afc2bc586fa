"""Errors as RFC 9457 problem+json ("problems"), with the field at fault where there is one.

The one place where errors become HTTP answers: `ProblemError`s raised by routes, request validation,
the gateway's typed errors (`gateway.errors`: a workflow refused, or nobody answered), and the database
being away.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.orders import InvalidField
from gateway.errors import (
    DeliveryClosed,
    GatewayError,
    NotOnOrder,
    NoWorker,
    OrderNotFound,
    Refused,
    Unavailable,
)

log = structlog.get_logger(__name__)

MEDIA_TYPE = "application/problem+json"
UNPARSABLE_BODY = "There was an error parsing the body"
# The database is down or unreachable (not: it refused what we sent, which is a bug and stays a 500).
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError, ConnectionError)


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldError] = []


class ProblemError(Exception):
    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        errors: Sequence[InvalidField] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.problem = Problem(
            title=title,
            status=status,
            detail=detail,
            errors=[FieldError(field=e.field, message=e.message) for e in errors],
        )
        self.headers = headers


def invalid(errors: Sequence[InvalidField]) -> ProblemError:
    return ProblemError(422, "Invalid request", "; ".join(str(e) for e in errors), errors)


def not_found(what: str) -> ProblemError:
    return ProblemError(404, "Not found", f"{what} does not exist")


def field_path(loc: Sequence[Any]) -> str:
    """("body", "lines", 2, "sku") → "lines[2].sku"."""
    path = ""
    for part in loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or (str(loc[0]) if loc else "")


def respond(problem: Problem, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """A problem as a response (also an ASGI app, for middleware that answers before the routes)."""
    return JSONResponse(
        problem.model_dump(exclude_none=True), status_code=problem.status, media_type=MEDIA_TYPE, headers=headers
    )


def gateway_problem(err: GatewayError) -> Problem:
    """A workflow call that did not go through, as the HTTP answer; `detail` is the gateway's reason."""
    match err:
        case Refused():
            status, title = 409, f"{err.subject.capitalize()} does not apply"
        case NotOnOrder() | OrderNotFound():
            status, title = 404, "Not found"
        case DeliveryClosed():
            status, title = 503, "Order is closing"
        case NoWorker():
            status, title = 503, "No worker answered"
        case Unavailable():
            status, title = 503, "Service unavailable"
        case _:
            status, title = 500, "Internal error"
    return Problem(title=title, status=status, detail=err.reason)


def problem_of(err: ProblemError | GatewayError) -> Problem:
    """The HTTP answer to either kind of refusal, for callers that show it rather than raise it (the console)."""
    return err.problem if isinstance(err, ProblemError) else gateway_problem(err)


def install(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def _gateway(_: Request, exc: GatewayError) -> JSONResponse:
        return respond(gateway_problem(exc))

    @app.exception_handler(ProblemError)
    async def _problem(_: Request, exc: ProblemError) -> JSONResponse:
        return respond(exc.problem, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            FieldError(
                field="body" if e.get("type") == "json_invalid" else field_path(e.get("loc", ())),
                message=str(e.get("msg", "")),
            )
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
        return respond(Problem(title="Invalid request", status=422, detail=detail, errors=errors))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", method=request.method, path=request.url.path)
        return respond(Problem(title="Internal error", status=500, detail="the error was logged"))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == UNPARSABLE_BODY:  # e.g. bytes that are not UTF-8
            message = "not valid JSON"
            if isinstance(exc.__cause__, ValueError) and "integer string conversion" in str(exc.__cause__):
                # Valid JSON, but Python's parser refuses integers of more than 4300 digits.
                message = "a number in the body has too many digits"
            error = FieldError(field="body", message=message)
            return respond(Problem(title="Invalid request", status=422, detail=f"body: {message}", errors=[error]))
        return respond(Problem(title=str(exc.detail), status=exc.status_code), exc.headers)

    async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.error("database unavailable", error=type(exc).__name__)
        problem = Problem(title="Service unavailable", status=503, detail="the database did not answer; retry shortly")
        return respond(problem, {"Retry-After": "5"})

    for unavailable in DATABASE_UNAVAILABLE:
        app.add_exception_handler(unavailable, _database_unavailable)
