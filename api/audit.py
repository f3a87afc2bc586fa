"""Every state-changing request leaves a row in the audit log before its response leaves the API."""

import re

import structlog
from fastapi import Request
from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.access import Principal
from domain.orders import is_order_id
from store import audit
from store.db import ShortWork

log = structlog.get_logger(__name__)

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ORDER_PATH = re.compile(r"^/v1/orders/([^/]+)")
REPLAYED = "idempotent-replayed"


def target(request: Request, order_id: str) -> None:
    """Name the order a request acted on, for routes whose path does not carry it."""
    request.state.audit_order_id = order_id


def _order_id(scope: Scope, headers: Headers) -> str | None:
    named = scope.get("state", {}).get("audit_order_id")
    if isinstance(named, str):
        return named
    for path in (scope["path"], headers.get("location", "")):
        if (match := ORDER_PATH.match(path)) and is_order_id(match.group(1)):  # not /v1/orders/import
            return match.group(1)
    return None


class AuditMiddleware:
    """Records authenticated writes (401s and 429s are not: a flood must not become database writes;
    they are logged instead)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal = scope.get("state", {}).get("principal") if scope["type"] == "http" else None
        if scope["type"] != "http" or scope["method"] not in WRITES or not isinstance(principal, Principal):
            await self.app(scope, receive, send)
            return
        # The response waits for the entry: no answer leaves without its audit row. Held, not streamed,
        # because the route's own transaction ends only once its response is "sent".
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        try:
            await self.app(scope, receive, hold)
        except Exception:
            await self._record(scope, principal, 500, Headers())
            raise
        start = next((m for m in held if m["type"] == "http.response.start"), None)
        status = start["status"] if start else 500
        await self._record(scope, principal, status, Headers(raw=start.get("headers", []) if start else []))
        for message in held:
            await send(message)

    async def _record(self, scope: Scope, principal: Principal, status: int, headers: Headers) -> None:
        entry = audit.Request(
            request_id=scope.get("state", {}).get("request_id", ""),
            key_id=principal.key_id,
            actor=principal.actor,
            role=principal.role.value,
            method=scope["method"],
            path=scope["path"],
            order_id=_order_id(scope, headers),
            status=status,
        )
        short_work: ShortWork = scope["app"].state.short_work
        replayed = headers.get(REPLAYED) == "true"

        async def write() -> None:
            async with short_work.sessions.begin() as session:
                await audit.record(session, entry, replayed=replayed)

        try:
            await short_work.run(write)
        except SQLAlchemyError:
            # The action has happened; refusing its answer would only make the caller retry it.
            log.exception("audit entry not written", **vars(entry))
