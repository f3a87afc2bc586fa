"""Two real API processes (`orderflow-api`) share one rate limit and hear of a revoked key at once when
ORDERFLOW_REDIS_URL is set; without it each keeps its own budget (the control that shows the test can fail)."""

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.access import Role
from store.db import create_engine, create_sessions
from tests.conftest import bearer, make_key

BIN = Path(sys.executable).parent
REDIS_URL = "redis://127.0.0.1:6379/0"
BURST = 10


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def api_processes(database_url: str, tmp: Path, redis_url: str, count: int = 2) -> Iterator[list[str]]:
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for i in range(count):
            port = _free_port()
            env = {
                **os.environ,
                "ORDERFLOW_DATABASE_URL": database_url,
                "ORDERFLOW_API_PORT": str(port),
                "ORDERFLOW_REDIS_URL": redis_url,
                "ORDERFLOW_RATE_LIMIT_PER_SECOND": "0.5",
                "ORDERFLOW_RATE_LIMIT_BURST": str(BURST),
                "ORDERFLOW_API_KEY_CACHE_SECONDS": "60",  # a revocation must not wait for the cache
                "ORDERFLOW_LOG_FORMAT": "json",
            }
            log = (tmp / f"api-{i}.log").open("wb")
            procs.append(subprocess.Popen([str(BIN / "orderflow-api")], env=env, stdout=log, stderr=log))
            urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 120  # a loaded machine takes a while to import the API
        for url in urls:
            while True:
                try:
                    httpx.get(f"{url}/healthz", timeout=3)  # any answer: serving (Temporal need not be up)
                    break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, (tmp / "api-0.log").read_text()[-2000:]
                time.sleep(0.2)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)


@asynccontextmanager
async def db_sessions(url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(url)
    try:
        yield create_sessions(engine)
    finally:
        await engine.dispose()


async def statuses(urls: list[str], key: str, requests: int) -> dict[str, list[int]]:
    """`requests` calls spread over the processes in turn, as a load balancer would."""
    got: dict[str, list[int]] = {url: [] for url in urls}
    async with httpx.AsyncClient(headers=bearer(key), timeout=10) as http:
        for i in range(requests):
            url = urls[i % len(urls)]
            got[url].append((await http.get(f"{url}/v1/api-keys", params={"limit": 1})).status_code)
    return got


@pytest.fixture(scope="module")
def redis_up() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.fail("Redis at 127.0.0.1:6379 is part of the test machine and must be running")


async def test_two_api_processes_share_one_rate_limit(redis_up: None, sqlite_url: str, tmp_path: Path) -> None:
    async with db_sessions(sqlite_url) as sessions:
        shared_key = await make_key(sessions, Role.ADMIN, name=f"shared-{uuid.uuid4().hex[:6]}")
        local_key = await make_key(sessions, Role.ADMIN, name=f"local-{uuid.uuid4().hex[:6]}")
    with api_processes(sqlite_url, tmp_path, REDIS_URL) as urls:
        shared = await statuses(urls, shared_key, 4 * BURST)
    with api_processes(sqlite_url, tmp_path, "") as urls:
        local = await statuses(urls, local_key, 4 * BURST)

    admitted = sum(s.count(200) for s in shared.values())
    refused = sum(s.count(429) for s in shared.values())
    # One budget of BURST (plus the trickle of 0.5/s refill while the requests ran) for both processes.
    assert BURST <= admitted <= BURST + 3, shared
    assert refused == 4 * BURST - admitted
    assert all(429 in s for s in shared.values())  # each process refuses once the shared bucket is empty
    # Without the shared store each process spends a budget of its own: twice as many get through.
    assert sum(s.count(200) for s in local.values()) >= 2 * BURST, local


async def test_rate_limit_headers_are_sent(redis_up: None, sqlite_url: str, tmp_path: Path) -> None:
    async with db_sessions(sqlite_url) as sessions:
        key = await make_key(sessions, Role.ADMIN, name=f"hdr-{uuid.uuid4().hex[:6]}")
    with api_processes(sqlite_url, tmp_path, REDIS_URL, count=1) as urls:
        async with httpx.AsyncClient(headers=bearer(key), timeout=10) as http:
            answers = [await http.get(f"{urls[0]}/v1/api-keys") for _ in range(BURST + 1)]
    first, last = answers[0], answers[-1]
    assert first.headers["RateLimit-Limit"] == str(BURST)
    assert first.headers["RateLimit-Remaining"] == str(BURST - 1)
    assert last.status_code == 429 and int(last.headers["Retry-After"]) >= 1
    assert last.headers["RateLimit-Remaining"] == "0"


async def test_a_revoked_key_is_refused_by_every_process_within_a_second(
    redis_up: None, sqlite_url: str, tmp_path: Path
) -> None:
    async with db_sessions(sqlite_url) as sessions:
        admin = await make_key(sessions, Role.ADMIN, name=f"rev-admin-{uuid.uuid4().hex[:6]}")
        doomed = await make_key(sessions, Role.VIEWER, name=f"doomed-{uuid.uuid4().hex[:6]}")
    with api_processes(sqlite_url, tmp_path, REDIS_URL) as (a, b):
        async with httpx.AsyncClient(timeout=10) as http:
            # Process b has verified the key and believes it for 60 s unless told otherwise.
            assert (await http.get(f"{b}/v1/orders", headers=bearer(doomed))).status_code == 200
            me = (await http.get(f"{a}/v1/api-keys", headers=bearer(admin), params={"limit": 200})).json()
            key_id = next(k["key_id"] for k in me["items"] if k["name"].startswith("doomed-"))
            assert (await http.delete(f"{a}/v1/api-keys/{key_id}", headers=bearer(admin))).status_code == 200
            revoked_at = time.monotonic()
            while (await http.get(f"{b}/v1/orders", headers=bearer(doomed))).status_code != 401:
                assert time.monotonic() - revoked_at < 1.0, "process b still admits the revoked key"
                await asyncio.sleep(0.05)
