"""The FastAPI application: lifespan owns the Temporal client and the database engine."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from temporalio.client import Client

from api import openapi, problems
from api.access import AccessMiddleware
from api.audit import AuditMiddleware
from api.caches import ActiveProducts, Principals
from api.idempotency import IdempotencyMiddleware
from api.limits import RequestLimitsMiddleware
from api.requestlog import RequestLogMiddleware
from api.routers import (
    audit,
    callbacks,
    catalog,
    controls,
    edits,
    health,
    imports,
    keys,
    orders,
    partners,
    pick_lists,
    queues,
    returns,
    warehouses,
    webhooks,
)
from config import Settings
from store.db import Database

log = structlog.get_logger(__name__)


def create_app(settings: Settings, temporal: Client | None = None) -> FastAPI:
    """`temporal` may be given by tests; otherwise the lifespan connects (lazily) to settings' address."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(settings.resolved_database_url)
        app.state.settings = settings
        app.state.sessions = database.sessions
        # The audit row and the submit path's lookups wait for nothing outside the database.
        app.state.short_work = database.short_work
        app.state.temporal = temporal or await Client.connect(
            settings.temporal_address, namespace=settings.temporal_namespace, lazy=True
        )
        log.info("api ready", docs=f"http://{settings.api_host}:{settings.api_port}/docs")
        try:
            yield
        finally:
            await database.close()

    app = FastAPI(
        title="orderflow",
        version="0.1.0",
        description="Order management where every order is a durable Temporal workflow. "
        "Every route but /healthz takes an API key: `Authorization: Bearer <key>`.",
        lifespan=lifespan,
    )
    problems.install(app)
    # Here rather than in the lifespan: the access middleware is built before the lifespan runs.
    app.state.principals = Principals(settings.api_key_cache_seconds)
    app.state.active_products = ActiveProducts(settings.catalog_cache_seconds)
    for router in (
        imports.router,  # before orders: /v1/orders/import is not an order ID
        orders.router,
        controls.router,
        edits.router,
        returns.router,
        queues.router,
        pick_lists.router,
        warehouses.router,  # before catalog: /v1/inventory/{sku}/ledger must not match {warehouse}/{sku}
        catalog.router,
        keys.router,
        partners.router,
        callbacks.router,
        audit.router,
        webhooks.router,
        webhooks.events_router,
        health.router,
    ):
        app.include_router(router)
    openapi.install(app, settings)

    # Outermost last: log → authenticate and throttle → audit → limit the body → replay or run once.
    app.add_middleware(IdempotencyMiddleware, settings=settings)
    uploads = {imports.UPLOAD_PATH: settings.max_import_bytes}
    app.add_middleware(RequestLimitsMiddleware, max_bytes=settings.max_body_bytes, larger=uploads)
    app.add_middleware(AuditMiddleware)
    app.add_middleware(AccessMiddleware, settings=settings, principals=app.state.principals)
    app.add_middleware(RequestLogMiddleware)
    return app
