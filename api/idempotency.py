"""`Idempotency-Key` on POST: a retry of the same request gets the first answer instead of a second act.

Scoped to the API key that sent it and kept `idempotency_hours` (24 by default). The same key with a
different request is 422; a retry while the first is still running is 409 with Retry-After. An answer
the API failed to give (5xx, or no answer at all) is not kept: the retry runs afresh, which every
route allows because each one is idempotent by business identity underneath.
"""

import hashlib
import json
import time
from datetime import timedelta

import structlog
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.audit import REPLAYED
from api.limits import read_body, replay
from api.problems import FieldError, Problem, respond
from config import Settings
from domain.access import Principal
from store import idempotency
from store.sql import utcnow

log = structlog.get_logger(__name__)

HEADER = "idempotency-key"
KEPT_HEADERS = ("content-type", "location")
PURGE_EVERY_S = 60.0


def request_hash(scope: Scope, body: bytes) -> str:
    """The request's identity: method, path, query and body (JSON compared by value, not by spacing)."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        canonical = body
    digest = hashlib.sha256()
    for part in (scope["method"].encode(), scope["path"].encode(), scope.get("query_string", b""), canonical):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def _invalid_key(detail: str) -> Problem:
    return Problem(
        title="Invalid request", status=422, detail=detail, errors=[FieldError(field="Idempotency-Key", message=detail)]
    )


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.ttl = timedelta(hours=settings.idempotency_hours)
        self.max_body = max(settings.max_body_bytes, settings.max_import_bytes)  # the limits middleware checked
        self._purged_at = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal = scope.get("state", {}).get("principal") if scope["type"] == "http" else None
        key = Headers(scope=scope).get(HEADER) if scope["type"] == "http" else None
        if scope["type"] != "http" or scope["method"] != "POST" or key is None or not isinstance(principal, Principal):
            await self.app(scope, receive, send)
            return
        if not 1 <= len(key) <= 255 or not key.isascii() or not key.isprintable():
            problem = _invalid_key("Idempotency-Key must be 1 to 255 printable ASCII characters")
            await respond(problem)(scope, receive, send)
            return

        body = await read_body(receive, self.max_body)
        fingerprint = request_hash(scope, body)
        sessions = scope["app"].state.sessions
        async with sessions.begin() as session:
            if time.monotonic() - self._purged_at > PURGE_EVERY_S:
                self._purged_at = time.monotonic()
                await idempotency.purge_expired(session, utcnow())
            existing = await idempotency.claim(session, principal.key_id, key, fingerprint, self.ttl)
        if existing is not None:
            if existing.request_hash != fingerprint:
                problem = _invalid_key("this Idempotency-Key was used with a different request; use a new key")
                answer: Response = respond(problem)
            elif existing.status is None:
                problem = Problem(
                    title="Request in progress",
                    status=409,
                    detail="the first request with this Idempotency-Key has not finished; retry shortly",
                )
                answer = respond(problem, {"Retry-After": "1"})
            else:
                answer = Response(existing.body, existing.status, {**existing.headers, REPLAYED: "true"})
            await answer(scope, receive, send)
            return

        status: int | None = None
        headers: dict[str, str] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                kept = Headers(raw=message.get("headers", []))
                headers.update({name: kept[name] for name in KEPT_HEADERS if name in kept})
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay(body, receive), capture)
        finally:
            async with sessions.begin() as session:
                if status is None or status >= 500:
                    await idempotency.release(session, principal.key_id, key)
                else:
                    await idempotency.complete(session, principal.key_id, key, status, headers, b"".join(chunks))
