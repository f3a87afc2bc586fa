"""The FastAPI application: lifespan owns the Temporal client and the database engine."""

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request, Response
from starlette.middleware.base import RequestResponseEndpoint
from temporalio.client import Client

from api import problems
from api.routers import catalog, controls, health, orders, pick_lists, queues, warehouses
from config import Settings
from store.db import create_engine, create_sessions

log = structlog.get_logger(__name__)

ORDER_PATH = re.compile(r"^/v1/orders/([^/]+)")


def create_app(settings: Settings, temporal: Client | None = None) -> FastAPI:
    """`temporal` may be given by tests; otherwise the lifespan connects (lazily) to settings' address."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.resolved_database_url)
        app.state.settings = settings
        app.state.sessions = create_sessions(engine)
        app.state.temporal = temporal or await Client.connect(
            settings.temporal_address, namespace=settings.temporal_namespace, lazy=True
        )
        log.info("api ready", docs=f"http://{settings.api_host}:{settings.api_port}/docs")
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(
        title="orderflow",
        version="0.1.0",
        description="Order management where every order is a durable Temporal workflow.",
        lifespan=lifespan,
    )
    problems.install(app)
    for router in (
        orders.router,
        controls.router,
        queues.router,
        pick_lists.router,
        warehouses.router,  # before catalog: /v1/inventory/{sku}/ledger must not match {warehouse}/{sku}
        catalog.router,
        health.router,
    ):
        app.include_router(router)

    @app.middleware("http")
    async def bind_request(request: Request, call_next: RequestResponseEndpoint) -> Response:
        match = ORDER_PATH.match(request.url.path)
        extra = {"order_id": match.group(1)} if match else {}
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(method=request.method, path=request.url.path, **extra):
            response = await call_next(request)
            log.info(
                "request",
                status=response.status_code,
                ms=round((time.perf_counter() - started) * 1000, 1),
                **(
                    {"order_id": response.headers["location"].rsplit("/", 1)[-1]}
                    if "location" in response.headers
                    else {}
                ),
            )
            return response

    return app
