"""The rehearsal's stack: bench's own (bench/stack.py), with the day's settings in every process's
environment, a fake external TMS (tests/fakes/external_system.py) as the carrier, and a worker that can
be killed and started again."""

import asyncio
import contextlib
import json
import sys
import time
from pathlib import Path

import httpx

import devstack
from bench.stack import Process, Stack

REPO = Path(__file__).resolve().parents[1]
FAKE_TMS = REPO / "tests" / "fakes" / "external_system.py"
QUEUE = "orders-rehearsal"
WORKER_ENTRY = "bench.probe:run_worker"  # orderflow's own worker, with bench's SQL counters


class RehearsalStack(Stack):
    def __init__(self, root: Path, database_url: str, settings: dict[str, str], worker_entry: str) -> None:
        super().__init__(root, database_url, "INFO", {}, "wal-normal")
        self.settings = settings
        self.worker_entry = worker_entry
        self.tms_port = devstack.free_port()
        self.tms_url = f"http://127.0.0.1:{self.tms_port}"

    def env(self, **extra: str) -> dict[str, str]:
        return super().env(**{**self.settings, "ORDERFLOW_TMS_URL": f"{self.tms_url}/tms", **extra})

    async def start_tms(self) -> Process:
        command = [sys.executable, str(FAKE_TMS), "--port", str(self.tms_port)]
        process = self._start("fake tms", command, self.env())
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient() as http:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    await http.get(f"{self.tms_url}/_records?system=tms", timeout=2)
                    return process
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the fake TMS did not come up; see {process.log}")
                await asyncio.sleep(0.1)

    def start_day_worker(self, name: str, relay: bool) -> Process:
        """A worker as `make run` starts one (auto warehouse mode, the manual warehouses from the settings)."""
        module, function = self.worker_entry.split(":")
        env = self.env(
            ORDERFLOW_TASK_QUEUE=QUEUE,
            ORDERFLOW_WAREHOUSE_MODE="auto",
            ORDERFLOW_AUTO_PICK_DELAY_SECONDS="0",
            ORDERFLOW_RELAY=str(relay).lower(),
            BENCH_SQL_COUNTS=str(self.logs / f"{name.replace(' ', '-')}.sql.json"),
        )
        return self._start(name, [sys.executable, "-c", f"import {module}; {module}.{function}()"], env)

    def kill(self, name: str) -> None:
        """SIGKILL, as a crash: no clean shutdown, steps in flight cut off."""
        process = self.processes.pop(name)
        process.popen.kill()
        process.popen.wait()

    async def tms(self, path: str, body: dict[str, object]) -> None:
        async with httpx.AsyncClient(base_url=self.tms_url, timeout=10) as http:
            (await http.post(path, json=body)).raise_for_status()

    async def tms_records(self) -> dict[str, dict[str, object]]:
        async with httpx.AsyncClient(base_url=self.tms_url, timeout=30) as http:
            records: dict[str, dict[str, object]] = (await http.get("/_records", params={"system": "tms"})).json()
        return records

    async def tms_calls(self) -> list[dict[str, object]]:
        async with httpx.AsyncClient(base_url=self.tms_url, timeout=30) as http:
            calls: list[dict[str, object]] = (await http.get("/_calls", params={"system": "tms"})).json()
        return calls


def day_settings(speed: float, manual_warehouses: list[str]) -> dict[str, str]:
    """The environment every process of the day shares: the compression and the business settings."""
    return {
        "ORDERFLOW_TIME_SCALE": str(speed),
        "ORDERFLOW_MANUAL_WAREHOUSES": json.dumps(manual_warehouses),
        # A backorder waits half a morning for stock before a person is asked (the default is a day).
        "ORDERFLOW_BACKORDER_WINDOW_HOURS": "4",
        "ORDERFLOW_WAREHOUSE_MODE": "auto",
    }
