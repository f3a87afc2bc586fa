"""`orderflow-keys` as an operator uses it: create, list, revoke, against the configured database."""

import asyncio
import os
import re
import subprocess
from pathlib import Path

from store import keys, migrate
from store.db import create_engine, create_sessions
from tests.conftest import BIN


def run(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ORDERFLOW_DATA_DIR": str(data), "ORDERFLOW_DATABASE_URL": ""}
    return subprocess.run([str(BIN / "orderflow-keys"), *args], env=env, capture_output=True, text=True, timeout=60)


async def active(url: str, secret: str) -> bool:
    engine = create_engine(url)
    try:
        async with create_sessions(engine)() as s:
            return await keys.authenticate(s, secret) is not None
    finally:
        await engine.dispose()


async def test_create_list_and_revoke_from_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'orderflow.db'}"
    await asyncio.to_thread(migrate.upgrade, url)

    created = run(tmp_path, "create", "--name", "carol", "--role", "handler")
    assert created.returncode == 0, created.stderr
    secret = re.search(r"key \(shown once, store it now\): (of_\S+)", created.stdout)
    key_id = re.search(r"created (k_\w+)", created.stdout)
    assert secret and key_id
    assert await active(url, secret.group(1))

    channel = run(tmp_path, "create", "--name", "shop", "--role", "channel", "--channel", "web")
    assert channel.returncode == 0, channel.stderr
    assert run(tmp_path, "create", "--name", "shop", "--role", "channel").returncode != 0  # no channel given

    listed = run(tmp_path, "list")
    assert listed.returncode == 0
    assert "carol" in listed.stdout and "handler" in listed.stdout and "web" in listed.stdout
    assert "of_" not in listed.stdout  # secrets are never shown again

    revoked = run(tmp_path, "revoke", key_id.group(1))
    assert revoked.returncode == 0, revoked.stderr
    assert not await active(url, secret.group(1))
    assert key_id.group(1) not in run(tmp_path, "list").stdout
    assert "revoked" in run(tmp_path, "list", "--all").stdout
    assert run(tmp_path, "revoke", "k_nope").returncode == 1
