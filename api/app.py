"""The FastAPI application: lifespan owns the Temporal client and the database engine."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import Depends, FastAPI
from temporalio.client import Client

import telemetry
from api import console, openapi, problems
from api.access import AccessMiddleware
from api.audit import AuditMiddleware
from api.caches import ActiveProducts, Principals
from api.idempotency import IdempotencyMiddleware
from api.limits import RequestLimitsMiddleware, json_content, known_query
from api.metrics import LatencyMiddleware, TracingMiddleware
from api.ratelimit import listening
from api.requestlog import RequestLogMiddleware
from api.routers import (
    audit,
    callbacks,
    catalog,
    controls,
    edits,
    foresight,
    health,
    imports,
    inbound,
    keys,
    kpis,
    metrics,
    orders,
    partners,
    pick_lists,
    queues,
    returns,
    rules,
    warehouses,
    webhooks,
)
from config import Settings
from egress import Egress
from rules.engine import ActiveRules
from store import crypto
from store.db import Database
from store.shared import redis_of

log = structlog.get_logger(__name__)


def create_app(settings: Settings, temporal: Client | None = None, tracing: telemetry.Tracing | None = None) -> FastAPI:
    """`temporal` may be given by tests; otherwise the lifespan connects (lazily) to settings' address.
    `tracing`: on when given (tests) or when OTEL_EXPORTER_OTLP_ENDPOINT is set (telemetry.py)."""
    tracing = tracing or (None if temporal else telemetry.setup("orderflow-api"))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(settings.resolved_database_url)
        app.state.settings = settings
        app.state.sessions = database.sessions
        # The audit row and the submit path's lookups wait for nothing outside the database.
        app.state.short_work = database.short_work
        app.state.temporal = temporal or await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            lazy=True,
            interceptors=[tracing.interceptor()] if tracing else [],
        )
        log.info("api ready", docs=f"http://{settings.api_host}:{settings.api_port}/docs")
        try:
            async with listening(settings.redis_url, app.state.principals):
                yield
        finally:
            await database.close()
            if app.state.redis is not None:
                await app.state.redis.aclose()
            if tracing and temporal is None:
                tracing.shutdown()

    app = FastAPI(
        title="orderflow",
        version="0.1.0",
        description="Order management where every order is a durable Temporal workflow. "
        "Every route but /healthz takes an API key: `Authorization: Bearer <key>`.",
        lifespan=lifespan,
        dependencies=[Depends(known_query), Depends(json_content)],
    )
    problems.install(app)
    # Here rather than in the lifespan: the access middleware is built before the lifespan runs.
    app.state.principals = Principals(settings.api_key_cache_seconds)
    app.state.active_products = ActiveProducts(settings.catalog_cache_seconds)
    app.state.egress = Egress.from_settings(settings)
    app.state.redis = redis_of(settings.redis_url)
    crypto.configure(crypto.keys_of(settings.secret_keys))
    app.state.active_rules = ActiveRules(settings.rules_cache_seconds)
    for router in (
        imports.router,  # before orders: /v1/orders/import is not an order ID
        orders.router,
        controls.router,
        edits.router,
        returns.router,
        queues.router,
        kpis.router,
        pick_lists.router,
        warehouses.router,
        catalog.router,
        keys.router,
        partners.router,
        callbacks.router,
        audit.router,
        rules.router,
        webhooks.router,
        webhooks.events_router,
        inbound.router,
        foresight.router,
        health.router,
        metrics.router,
    ):
        app.include_router(router)
    console.install(app)
    openapi.install(app, settings)

    # Outermost last: log → authenticate and throttle → console session → audit → limit the body → replay or run once.
    app.add_middleware(IdempotencyMiddleware, settings=settings)
    uploads = {imports.UPLOAD_PATH: settings.max_import_bytes, console.UPLOAD_PATH: settings.max_import_bytes}
    app.add_middleware(RequestLimitsMiddleware, max_bytes=settings.max_body_bytes, larger=uploads)
    app.add_middleware(AuditMiddleware)
    app.add_middleware(console.ConsoleSessionMiddleware)
    app.add_middleware(AccessMiddleware, settings=settings, principals=app.state.principals, redis=app.state.redis)
    app.add_middleware(RequestLogMiddleware)
    app.add_middleware(LatencyMiddleware)  # outermost: the whole request, refusals included
    if tracing:
        app.add_middleware(TracingMiddleware, tracing=tracing)
    return app
