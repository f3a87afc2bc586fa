import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from config import Settings
from tests.conftest import settings_for
from tests.workflows.support import STARTED, WorkerFactory
from worker import build_activities
from workflows.order import OrderWorkflow


@pytest.fixture
def worker_factory(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str, sessions: async_sessionmaker[AsyncSession]
) -> WorkerFactory:
    """A worker with the real activities on a fresh task queue; `replace` swaps activities by name."""

    @asynccontextmanager
    async def factory(*, replace: dict[str, Any] | None = None, **overrides: Any) -> AsyncIterator[Settings]:
        settings = settings_for(sqlite_url, **overrides)
        activities = {a.__temporal_activity_definition.name: a for a in build_activities(settings, sessions)}
        activities.update(replace or {})
        async with Worker(
            time_skipping_env.client,
            task_queue=settings.task_queue,
            workflows=[OrderWorkflow],
            activities=list(activities.values()),
        ):
            yield settings

    return factory


@pytest.fixture(autouse=True)
async def terminate_leftovers() -> AsyncIterator[None]:
    """A parked order left running keeps timers firing on a queue nobody polls, which stalls time skipping
    for the tests after it."""
    yield
    while STARTED:
        handle = STARTED.pop()
        with contextlib.suppress(RPCError):
            await handle.terminate("test over")
