"""The hardening tests use a database of their own: they leave subscriptions with sealed secrets and
forbidden targets behind, which the other tests' outbox relays must never see."""

import asyncio
from collections.abc import Iterator

import pytest

from store import crypto, migrate


@pytest.fixture(scope="session")
async def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('hardening') / 'orderflow.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    return url


@pytest.fixture(autouse=True)
def no_keys_after() -> Iterator[None]:
    """The keys are the process's (store/crypto.py): every test starts and ends without any."""
    crypto.configure([])
    yield
    crypto.configure([])
