"""Input limits that apply to every route: body size and page size."""

from collections.abc import Mapping
from typing import Annotated
from urllib.parse import unquote_to_bytes

from fastapi import Depends, Query, Request, params
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.access import SIGNED_PREFIX
from api.deps import SettingsDep
from api.problems import FieldError, Problem, ProblemError, invalid, respond
from api.schemas import clean_text
from domain.orders import InvalidField


class BodyTooLarge(Exception):
    pass


# A partner callback is a small JSON event; anything larger is not one (and is refused before the HMAC).
CALLBACK_MAX_BYTES = 64 * 1024


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body; raises BodyTooLarge past `limit` bytes, without reading further."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app a body already read, then defers to the real one (disconnects)."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return again


def _text_problem(scope: Scope) -> Problem | None:
    """Path and query carry identifiers that end up in queries: refuse what the database cannot hold."""
    query = unquote_to_bytes(scope.get("query_string", b"").replace(b"+", b" "))
    try:
        problem = clean_text(scope["path"]) or clean_text(query.decode())
    except UnicodeDecodeError:
        problem = "must be UTF-8"
    if problem is None:
        return None
    detail = f"path and query {problem}"
    return Problem(title="Invalid request", status=422, detail=detail, errors=[FieldError(field="url", message=detail)])


class RequestLimitsMiddleware:
    """413 for a body over the limit, whether announced by Content-Length or streamed in chunks; 422 for
    a path or query with text no identifier can have."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = dict(larger or {})  # path → its own limit, for the routes that take files

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if (text := _text_problem(scope)) is not None:
            await respond(text)(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        limit = self.larger.get(path, CALLBACK_MAX_BYTES if path.startswith(SIGNED_PREFIX) else self.max_bytes)
        length = dict(scope["headers"]).get(b"content-length", b"")
        try:
            too_large = length.isdigit() and int(length) > limit
            body = b"" if too_large else await read_body(receive, limit)
        except BodyTooLarge:
            too_large = True
        if too_large:
            problem = Problem(
                title="Request body too large", status=413, detail=f"the body may have at most {limit} bytes"
            )
            await respond(problem, {"Connection": "close"})(scope, receive, send)
            return
        await self.app(scope, replay(body, receive), send)


async def page_limit(settings: SettingsDep, limit: Annotated[int, Query(ge=1)] = 50) -> int:
    """How many items a page holds: `limit`, at most the deployment's `max_page_size` (the only upper
    bound, so a refusal names the real one)."""
    if limit > settings.max_page_size:
        raise invalid([InvalidField("limit", f"at most {settings.max_page_size} items per page")])
    return limit


PageLimit = Annotated[int, Depends(page_limit)]


_known: dict[int, frozenset[str]] = {}


def _query_names(dependant: Dependant) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def known_query(request: Request) -> None:
    """A query parameter the route does not take is refused, as an unknown body field is: a misspelt
    filter must not quietly list everything."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    known = _known.get(id(route))
    if known is None:
        known = _known[id(route)] = frozenset(_query_names(route.dependant))
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        takes = f"this route takes {', '.join(sorted(known))}" if known else "this route takes no query parameters"
        raise invalid([InvalidField(name, f"unknown query parameter; {takes}") for name in unknown])


async def json_content(request: Request) -> None:
    """A route that takes a JSON body answers 415 to a body of another media type (a 422 would say the
    JSON was wrong when there was none)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.body_field is None or request.method in ("GET", "HEAD", "DELETE"):
        return
    if isinstance(route.body_field.field_info, params.Form):  # File is a Form
        return
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if request.headers.get("content-length", "0") == "0" and "transfer-encoding" not in request.headers:
        return  # no body: the route decides whether one is required
    if media == "application/json" or media.endswith("+json"):
        return
    raise ProblemError(
        415,
        "Unsupported media type",
        f"send the body as application/json (Content-Type: {media or 'missing'})",
        [InvalidField("content-type", "must be application/json")],
    )
