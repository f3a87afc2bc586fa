"""Schemathesis against the OpenAPI description, with an admin key: no 5xx, no answer the schema does
not describe. Bounded in time; the API runs on uvicorn on a random port with a worker, on PostgreSQL
(stricter than SQLite about what it stores)."""

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from config import Settings, WarehouseMode
from devstack import free_port
from domain.access import Role
from store import catalog, migrate
from store.db import create_engine, create_sessions
from tests.conftest import BIN, fresh_postgres, make_key, settings_for
from worker import build_worker

# Seconds of fuzzing; ORDERFLOW_FUZZ_SECONDS, ORDERFLOW_FUZZ_SEED and ORDERFLOW_FUZZ_CHECKS change them
# for a longer or wider hunt.
BUDGET = int(os.environ.get("ORDERFLOW_FUZZ_SECONDS", "90"))
SEED = os.environ.get("ORDERFLOW_FUZZ_SEED", "20261201")
CHECKS = os.environ.get("ORDERFLOW_FUZZ_CHECKS") or ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)


@asynccontextmanager
async def serving(settings: Settings, env: WorkflowEnvironment) -> AsyncIterator[str]:
    engine = create_engine(settings.resolved_database_url)
    sessions = create_sessions(engine)
    async with sessions.begin() as s:
        await catalog.ensure_warehouse(s, settings.default_warehouse, "Main warehouse")
    await migrate.seed_demo(settings.resolved_database_url, settings.default_warehouse)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, temporal=env.client),
            host="127.0.0.1",
            port=free_port(),
            log_config=None,
            access_log=False,
            log_level="warning",
        )
    )
    serve = asyncio.create_task(server.serve())
    try:
        async with build_worker(env.client, settings, sessions):
            while not server.started:
                assert not serve.done(), serve.exception()
                await asyncio.sleep(0.05)
            yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        await serve
        await engine.dispose()


async def test_fuzzing_finds_no_server_error_and_no_schema_violation(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    # A database of its own: every order in it has a live worker (other tests' workers have stopped).
    async with fresh_postgres() as database_url:
        report, code = await fuzz(database_url, dev_env, tmp_path)
    sys.stdout.write(report[-20_000:])
    assert code == 0, report[-20_000:]


async def fuzz(database_url: str, dev_env: WorkflowEnvironment, tmp_path: Path) -> tuple[str, int | None]:
    settings = settings_for(database_url, mode=WarehouseMode.AUTO)
    engine = create_engine(database_url)
    admin = await make_key(create_sessions(engine), Role.ADMIN, name="fuzzer")
    await engine.dispose()
    async with serving(settings, dev_env) as api:
        st = await asyncio.create_subprocess_exec(
            str(BIN / "st"),
            "run",
            f"{api}/openapi.json",
            "--header",
            f"Authorization: Bearer {admin}",
            "--checks",
            CHECKS,
            "--max-time",
            str(BUDGET),
            "--max-examples",
            "40",
            "--seed",
            SEED,
            # One worker: Hypothesis parses lambdas with `ast`, which CPython 3.11 does not allow from two
            # threads at once (SystemError: AST constructor recursion depth mismatch).
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--no-color",
            "--report-dir",
            str(tmp_path),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path,  # schemathesis keeps its cache (.schemathesis/) in the working directory
            env={**os.environ, "SCHEMATHESIS_HOOKS": "", "PYTHONUNBUFFERED": "1"},
        )
        output, _ = await st.communicate()
    return output.decode(errors="replace"), st.returncode
