"""One log line per request, under a request ID the caller may supply (`X-Request-ID`) and always gets back."""

import re
import time
import uuid

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.audit import ORDER_PATH
from domain.access import Principal

log = structlog.get_logger(__name__)

HEADER = "x-request-id"
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = Headers(scope=scope).get(HEADER, "")
        request_id = offered if REQUEST_ID.match(offered) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        location = ""

        async def tag(message: Message) -> None:
            nonlocal status, location
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers[HEADER] = request_id
                location = headers.get("location", "")
            await send(message)

        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(request_id=request_id, method=scope["method"], path=scope["path"]):
            try:
                await self.app(scope, receive, tag)
            finally:
                principal = state.get("principal")
                match = ORDER_PATH.match(scope["path"]) or ORDER_PATH.match(location)
                log.info(
                    "request",
                    status=status,
                    ms=round((time.perf_counter() - started) * 1000, 1),
                    **({"actor": principal.actor} if isinstance(principal, Principal) else {}),
                    **({"order_id": match.group(1)} if match else {}),
                )
