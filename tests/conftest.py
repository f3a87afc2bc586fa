"""Shared fixtures: real Temporal servers from the installed wheels, real databases (SQLite and PostgreSQL)."""

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.outbox import running_relay
from api.app import create_app
from config import Settings, WarehouseMode
from domain.access import Role
from domain.deliveries import PartnerKind
from store import catalog, inventory, keys, migrate, partners
from store.db import Database, create_engine, create_sessions
from worker import build_worker, relay_options
from workflows import attributes

BIN = Path(sys.executable).parent
PG_ADMIN_DSN = os.environ.get("ORDERFLOW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        search_attributes=attributes.ALL,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


async def register_search_attributes(client: Client) -> None:
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in attributes.ALL},
        )
    )


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(BIN / "temporal-test-server"))
    await register_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'orderflow.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    return url


@asynccontextmanager
async def fresh_postgres() -> AsyncIterator[str]:
    """A new, migrated database on the machine's PostgreSQL, dropped afterwards."""
    name = f"orderflow_test_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    url = f"{base}/{name}"
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        yield url
    finally:
        admin = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(scope="session")
async def postgres_url() -> AsyncIterator[str]:
    """A fresh database on the machine's PostgreSQL for this test session, dropped afterwards."""
    async with fresh_postgres() as url:
        yield url


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Runs a test on both databases."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
async def sessions(sqlite_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(sqlite_url)
    yield create_sessions(engine)
    await engine.dispose()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8].upper()}"


def settings_for(database_url: str, mode: WarehouseMode = WarehouseMode.MANUAL, **extra: Any) -> Settings:
    return Settings(
        database_url=database_url,
        task_queue=unique("tq"),
        warehouse_mode=mode,
        auto_pick_delay_seconds=extra.pop("auto_pick_delay_seconds", 0),
        # Tests fire requests as fast as they can; the throttling tests set their own rate.
        rate_limit_per_second=extra.pop("rate_limit_per_second", 100_000),
        rate_limit_burst=extra.pop("rate_limit_burst", 100_000),
        **extra,
    )


async def make_key(
    sessions: async_sessionmaker[AsyncSession],
    role: Role,
    channel: str | None = None,
    name: str | None = None,
    partner_id: str | None = None,
) -> str:
    """A new API key's secret. A partner key without a partner named gets a new warehouse partner for the
    default warehouse (MAIN)."""
    async with sessions.begin() as s:
        if role is Role.PARTNER and partner_id is None:
            partner_id = unique("wms").lower()
            await partners.create(s, partner_id, "Main warehouse's WMS", PartnerKind.WAREHOUSE, ["MAIN"], None)
        _, secret = await keys.create(s, name or unique(role.value).lower(), role, channel, partner_id)
    return secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def stock_up(
    sessions: async_sessionmaker[AsyncSession], items: dict[str, int], warehouse: str = "MAIN", price: int = 1000
) -> None:
    """Products with the given on-hand stock (SKUs should be unique per test)."""
    async with sessions.begin() as s:
        await catalog.ensure_warehouse(s, warehouse, warehouse)
        for sku, on_hand in items.items():
            await catalog.put_product(s, sku, f"product {sku}", price, "CNY", True)
            await inventory.count(s, warehouse, sku, on_hand, "test stock")


def order_body(
    lines: dict[str, int], channel: str = "web", external_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "channel": channel,
        "external_id": external_id or unique("WEB"),
        "customer": {"id": "C-1", "name": "Li Wei", "email": "li.wei@example.com"},
        "ship_to": {
            "name": "Li Wei",
            "line1": "88 Century Ave",
            "city": "Shanghai",
            "postal_code": "200120",
            "country": "CN",
        },
        "lines": [{"sku": sku, "quantity": qty, "unit_price": "10.00"} for sku, qty in lines.items()],
        "currency": "CNY",
        **extra,
    }


class Stack:
    """The API (in process, over ASGI) and one worker, against a real Temporal server and database.

    `http` sends an admin key; `keys` holds one key per role (the channel key is for channel "web"),
    `as_role(role)` the headers to send one of them."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        client: Client,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        keys: dict[Role, str],
    ):
        self.http = http
        self.client = client
        self.settings = settings
        self.sessions = sessions
        self.keys = keys

    def as_role(self, role: Role) -> dict[str, str]:
        return bearer(self.keys[role])

    async def until(self, order_id: str, check: Callable[[dict[str, Any]], Any], within: float = 30) -> dict[str, Any]:
        """Poll the order's view until `check` holds."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            view: dict[str, Any] = (await self.http.get(f"/v1/orders/{order_id}")).json()
            if check(view):
                return view
            assert asyncio.get_running_loop().time() < deadline, view
            await asyncio.sleep(0.1)

    async def wait_for_status(self, order_id: str, *statuses: str, within: float = 30) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            response = await self.http.get(f"/v1/orders/{order_id}")
            if response.status_code == 200 and response.json()["status"] in statuses:
                body: dict[str, Any] = response.json()
                return body
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{order_id} never reached {statuses}: {response.status_code} {response.text}")
            await asyncio.sleep(0.1)


StackFactory = Callable[..., AbstractAsyncContextManager[Stack]]


@pytest.fixture
def stack_factory(dev_env: WorkflowEnvironment) -> StackFactory:
    @asynccontextmanager
    async def factory(database_url: str, **settings_overrides: Any) -> AsyncIterator[Stack]:
        settings = settings_for(database_url, **settings_overrides)
        database = Database(database_url)  # its short work as orderflow-worker runs its steps
        sessions = database.sessions
        async with sessions.begin() as s:
            await catalog.ensure_warehouse(s, settings.default_warehouse, "Main warehouse")
        role_keys = {role: await make_key(sessions, role, "web" if role is Role.CHANNEL else None) for role in Role}
        app = create_app(settings, temporal=dev_env.client)
        worker: Worker = build_worker(dev_env.client, settings, sessions, database.short_work)
        try:
            relay = running_relay(dev_env.client, sessions, relay_options(settings))
            async with worker, relay, app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://orderflow.test", headers=bearer(role_keys[Role.ADMIN])
                ) as http:
                    yield Stack(http, dev_env.client, settings, sessions, role_keys)
        finally:
            await database.close()

    return factory
