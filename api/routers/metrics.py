"""GET /metrics: Prometheus text format, for an admin key or the metrics token (docs/operations.md).

Outside the API-key middleware (api/access.py PUBLIC_PATHS), because the scraper may hold a token that
is not an API key; the check is here instead."""

import hmac

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api import metrics
from api.access import bearer_secret, unauthorized
from api.deps import SessionsDep, SettingsDep
from api.problems import ProblemError
from domain.access import Role
from store import keys
from store import metrics as business
from store.db import READ_ONLY

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def get_metrics(request: Request, settings: SettingsDep, sessions: SessionsDep) -> Response:
    """Business metrics counted in the database, and this API's request latency."""
    secret = bearer_secret(request.scope)
    if secret is None:
        raise unauthorized("send Authorization: Bearer <admin API key or metrics token>")
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    async with sessions() as session:
        await session.connection(execution_options=READ_ONLY)
        if token is None or not hmac.compare_digest(secret.encode(), token.encode()):
            key = await keys.authenticate(session, secret)
            if key is None:
                raise unauthorized("the API key or metrics token is unknown")
            if keys.principal_of(key).role is not Role.ADMIN:
                raise ProblemError(403, "Forbidden", "metrics need an admin key or the metrics token")
        figures = await business.read(session)
    return Response(metrics.exposition(figures), media_type=CONTENT_TYPE_LATEST)
