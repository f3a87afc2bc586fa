"""Who is calling and what they may do.

`AccessMiddleware` turns `Authorization: Bearer <key>` into a `Principal` before anything else reads
the request (401 without a valid key, 429 past the key's rate), so an unauthenticated caller never
gets as far as body parsing. Each route then declares the roles it admits with `require(...)`, a
dependency that answers 403 — or 404 when a channel key names another channel's order, so the answer
never confirms that order exists.
"""

from typing import Annotated

import structlog
from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis
from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.caches import Principals
from api.problems import ProblemError, not_found, respond
from api.ratelimit import RateLimiter, SharedRateLimiter, Verdict
from config import Settings
from domain.access import Principal, Role
from store import keys
from store.db import READ_ONLY

log = structlog.get_logger(__name__)

# Reachable without a key: the health check (for load balancers) and the API's own description.
# /metrics checks its own credentials: an admin key or the metrics token (api/routers/metrics.py).
PUBLIC_PATHS = frozenset({"/healthz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/metrics"})
# Authenticated by a partner's signature over the body instead of a key (api/callbacks.py).
SIGNED_PREFIX = "/v1/callbacks/"
# Authenticated by a sign-in session instead of a key (api/console/sessions.py).
CONSOLE_PREFIX = "/console"

# Declares the scheme in OpenAPI (the lock in /docs); the middleware has already checked the key.
bearer = HTTPBearer(auto_error=False, description="an API key: `Authorization: Bearer of_...`")


class RoleCheck:
    """The dependency behind `require`: a distinct type, so a test can find every route's roles."""

    def __init__(self, roles: frozenset[Role]) -> None:
        self.roles = roles | {Role.ADMIN}

    async def __call__(
        self, request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
    ) -> Principal:
        principal = getattr(request.state, "principal", None)
        if not isinstance(principal, Principal):
            raise unauthorized("send Authorization: Bearer <API key>")
        order_id = request.path_params.get("order_id")
        if isinstance(order_id, str) and not principal.sees_order(order_id):
            raise not_found(f"order {order_id}")
        if not principal.may(self.roles):
            allowed = ", ".join(sorted(self.roles))
            raise ProblemError(403, "Forbidden", f"this needs a key with role {allowed}; this key is {principal.role}")
        return principal

    def __repr__(self) -> str:
        return f"require({', '.join(sorted(self.roles))})"


def require(*roles: Role) -> RoleCheck:
    """The roles a route admits (admin always is): `Depends(require(Role.HANDLER))`."""
    return RoleCheck(frozenset(roles))


def unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, "Unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


def bearer_secret(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, secret = value.decode("latin-1").partition(" ")
            return secret.strip() if scheme.lower() == "bearer" and secret.strip() else None
    return None


def with_headers(send: Send, headers: dict[str, str]) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            response_headers = MutableHeaders(scope=message)
            for name, value in headers.items():
                response_headers.setdefault(name, value)
        await send(message)

    return sending


class AccessMiddleware:
    def __init__(
        self, app: ASGIApp, settings: Settings, principals: Principals | None = None, redis: Redis | None = None
    ) -> None:
        self.app = app
        per_second, burst = settings.rate_limit_per_second, settings.rate_limit_burst
        self.limiter = SharedRateLimiter(redis, per_second, burst) if redis else RateLimiter(per_second, burst)
        self.principals = principals if principals is not None else Principals(settings.api_key_cache_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS or scope["path"].startswith(CONSOLE_PREFIX):
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith(SIGNED_PREFIX):
            # Signed, not keyed: the route checks the signature. The bucket is the caller's address, so
            # unsigned floods are cut off before each costs a partner lookup and an HMAC.
            client = scope.get("client")
            verdict = await self.limiter.take(f"callback:{client[0] if client else 'unknown'}")
            if verdict.wait:
                problem = ProblemError(
                    429,
                    "Too many requests",
                    f"over {self.limiter.per_second:g} callbacks/s from this address; retry later",
                    headers=verdict.headers(),
                )
                await respond(problem.problem, problem.headers)(scope, receive, send)
                return
            await self.app(scope, receive, with_headers(send, verdict.headers()))
            return
        admitted = await self._admit(scope)
        if isinstance(admitted, ProblemError):
            await respond(admitted.problem, admitted.headers)(scope, receive, send)
            return
        principal, verdict = admitted
        scope.setdefault("state", {})["principal"] = principal
        with structlog.contextvars.bound_contextvars(actor=principal.actor):
            await self.app(scope, receive, with_headers(send, verdict.headers()))

    async def _admit(self, scope: Scope) -> tuple[Principal, Verdict] | ProblemError:
        secret = bearer_secret(scope)
        if secret is None:
            return unauthorized("send Authorization: Bearer <API key>")
        digest = keys.hash_secret(secret)
        principal = self.principals.get(digest)
        if principal is None:
            try:
                async with scope["app"].state.sessions() as session:
                    await session.connection(execution_options=READ_ONLY)
                    key = await keys.authenticate(session, secret)
            except (SQLAlchemyError, OSError) as err:
                log.error("key lookup failed", error=type(err).__name__)
                return ProblemError(
                    503,
                    "Service unavailable",
                    "the database did not answer; retry shortly",
                    headers={"Retry-After": "5"},
                )
            if key is None:
                log.warning("unknown or revoked API key", path=scope["path"])
                return unauthorized("the API key is unknown or revoked")
            principal = keys.principal_of(key)
            self.principals.put(digest, principal)
        verdict = await self.limiter.take(principal.key_id)
        if verdict.wait:
            return ProblemError(
                429,
                "Too many requests",
                f"key {principal.name} is over {self.limiter.per_second:g} requests/s; retry later",
                headers=verdict.headers(),
            )
        return principal, verdict


# The roles of each kind of route; admin is implied everywhere.
OrderReader = Annotated[Principal, Depends(require(Role.CHANNEL, Role.HANDLER, Role.VIEWER))]
OrderSubmitter = Annotated[Principal, Depends(require(Role.CHANNEL))]
Handler = Annotated[Principal, Depends(require(Role.HANDLER))]
Operator = Annotated[Principal, Depends(require(Role.HANDLER, Role.VIEWER))]  # reads beyond orders
Warehouse = Annotated[Principal, Depends(require(Role.PARTNER, Role.HANDLER))]
Admin = Annotated[Principal, Depends(require())]
RuleEditor = Annotated[Principal, Depends(require(Role.RULES_EDITOR))]
RuleReader = Annotated[Principal, Depends(require(Role.RULES_EDITOR, Role.HANDLER, Role.VIEWER))]
