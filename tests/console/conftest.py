"""The console against the real dev stack, served over HTTP by uvicorn, driven by Debian's chromium.

One stack and one browser for the whole session: a fresh context (no cookies) per sign-in.
"""

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from temporalio.testing import WorkflowEnvironment

from activities.outbox import running_relay
from api.app import create_app
from api.console.kpis import KpiMemory
from config import Settings, WarehouseMode
from domain.access import Role
from store import catalog
from store.db import Database
from tests.conftest import bearer, make_key, settings_for
from worker import build_worker, relay_options

ROOT = Path(__file__).resolve().parents[2]
# Where the tests' screenshots go: a temporary folder, unless this names one (relative to the checkout),
# as `ORDERFLOW_SCREENSHOTS=docs/images` does to regenerate the README's.
SCREENSHOTS = "ORDERFLOW_SCREENSHOTS"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Console:
    base: str
    http: httpx.AsyncClient  # the API, as admin
    keys: dict[Role, str]
    settings: Settings
    browser: Browser

    async def signed_in(self, role: Role, locale: str = "en-GB") -> tuple[BrowserContext, Page]:
        context = await self.browser.new_context(
            base_url=self.base, locale=locale, viewport={"width": 1024, "height": 768}
        )
        page = await context.new_page()
        await page.goto("/console/login")
        await page.fill("#api_key", self.keys[role])
        await page.click("button[type=submit]")
        await page.wait_for_url("**/console/dashboard")
        return context, page


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wanted = os.environ.get(SCREENSHOTS)
    folder = ROOT / wanted if wanted else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
async def console(dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Console]:
    if not shutil.which("chromium") and not shutil.which(CHROMIUM):
        pytest.fail("chromium is not installed: `make browser` installs it")
    from store import migrate

    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('console') / 'orderflow.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    settings = settings_for(url, mode=WarehouseMode.AUTO, auto_pick_delay_seconds=0)
    database = Database(url)  # its short work as orderflow-worker runs its steps
    sessions = database.sessions
    async with sessions.begin() as s:
        await catalog.ensure_warehouse(s, settings.default_warehouse, "Main warehouse")
    role_keys = {
        role: await make_key(sessions, role, "web" if role is Role.CHANNEL else None, name=f"console-{role.value}")
        for role in Role
    }
    app = create_app(settings, temporal=dev_env.client)
    app.state.console_kpis = KpiMemory(fresh_seconds=0)  # the figures as they are when a test looks
    worker = build_worker(dev_env.client, settings, sessions, database.short_work)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    try:
        async with (
            worker,
            running_relay(dev_env.client, sessions, relay_options(settings)),
            app.router.lifespan_context(app),
            async_playwright() as playwright,
        ):
            serving = asyncio.create_task(server.serve())
            while not server.started:
                await asyncio.sleep(0.02)
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, headers=bearer(role_keys[Role.ADMIN])) as http:
                yield Console(base, http, role_keys, settings, browser)
            await browser.close()
            server.should_exit = True
            await serving
    finally:
        await database.close()
