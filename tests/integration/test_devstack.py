"""`make run`'s stack as a user meets it: real processes, real ports, a worker killed mid-flight."""

import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from devstack import free_port
from domain.contract import SearchAttribute, order_workflow_id
from tests.conftest import BIN, order_body


class DevStack:
    def __init__(self, tmp: Path) -> None:
        self.data = tmp / "data"
        self.temporal = f"127.0.0.1:{free_port()}"
        self.api = f"http://127.0.0.1:{(api_port := free_port())}"
        self.env = {
            **os.environ,
            "ORDERFLOW_DATA_DIR": str(self.data),
            "ORDERFLOW_TEMPORAL_ADDRESS": self.temporal,
            "ORDERFLOW_TEMPORAL_UI_PORT": str(free_port()),
            "ORDERFLOW_API_PORT": str(api_port),
            "ORDERFLOW_WAREHOUSE_MODE": "auto",
            "ORDERFLOW_AUTO_PICK_DELAY_SECONDS": "1",
            "ORDERFLOW_DATABASE_URL": "",
        }
        self.log = tmp / "devstack.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.admin: dict[str, str] = {}
        self.web: dict[str, str] = {}

    def read_keys(self) -> None:
        """The keys the first start printed, as a new user would copy them."""
        admin = re.search(r"^admin key: (\S+)$", self.output(), re.MULTILINE)
        web = re.search(r"^channel key \(web\): (\S+)$", self.output(), re.MULTILINE)
        assert admin and web, self.output()
        self.admin = {"Authorization": f"Bearer {admin.group(1)}"}
        self.web = {"Authorization": f"Bearer {web.group(1)}"}

    def start(self, own_group: bool = False) -> subprocess.Popen[bytes]:
        """`own_group`: in a process group of its own, as a terminal runs it (Ctrl-C reaches them all)."""
        runs = self.output().count("orderflow is running")
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [str(BIN / "orderflow-dev")], env=self.env, stdout=out, stderr=out, start_new_session=own_group
            )
        deadline = time.monotonic() + 120
        while self.output().count("orderflow is running") == runs:
            assert self.proc.poll() is None, self.output()
            assert time.monotonic() < deadline, self.output()
            time.sleep(0.3)
        return self.proc

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=60)

    def child_pid(self, marker: str) -> int:
        assert self.proc is not None
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid), "-f", marker], capture_output=True, text=True)
        return int(out.stdout.split()[0])

    def wait_for(self, order_id: str, status: str, within: float = 60) -> dict[str, object]:
        deadline = time.monotonic() + within
        while True:
            response = httpx.get(f"{self.api}/v1/orders/{order_id}", headers=self.web, timeout=30)
            if response.status_code == 200 and response.json()["status"] == status:
                body: dict[str, object] = response.json()
                return body
            assert time.monotonic() < deadline, f"{order_id}: {response.text}\n{self.output()[-3000:]}"
            time.sleep(0.2)


@pytest.fixture
def devstack(tmp_path: Path) -> Iterator[DevStack]:
    stack = DevStack(tmp_path)
    yield stack
    if stack.proc and stack.proc.poll() is None:
        stack.proc.kill()
        stack.proc.wait()
    if stack.proc:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(stack.proc.pid, signal.SIGKILL)  # the children of a test that failed half-way


def in_session(sid: int) -> list[str]:
    out = subprocess.run(["pgrep", "-a", "-s", str(sid)], capture_output=True, text=True)
    return out.stdout.splitlines()


def test_dev_stack_runs_survives_a_killed_worker_and_restarts_cleanly(devstack: DevStack) -> None:
    devstack.start()
    assert httpx.get(f"{devstack.api}/healthz").json()["status"] == "ok"
    devstack.read_keys()
    assert httpx.get(f"{devstack.api}/v1/orders").status_code == 401

    # The README tour: the seeded catalog is there and an order completes.
    first = httpx.post(f"{devstack.api}/v1/orders", json=order_body({"TEE-BLK-M": 1}), headers=devstack.web)
    assert first.status_code == 201, first.text
    first_id = first.json()["order_id"]
    view = devstack.wait_for(first_id, "completed")
    assert view["fulfilments"][0]["invoice"] and view["fulfilments"][0]["shipment"]  # type: ignore[index]
    listed = subprocess.run(
        [
            str(BIN / "temporal"),
            "workflow",
            "list",
            "--address",
            devstack.temporal,
            "--query",
            f'{SearchAttribute.ORDER_STATUS}="completed"',
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert order_workflow_id(first_id) in listed.stdout, listed.stdout + listed.stderr

    # Orders in flight when the worker dies: the stack brings it back and nothing is lost or doubled.
    ids = []
    for _ in range(10):
        response = httpx.post(
            f"{devstack.api}/v1/orders", json=order_body({"TEE-WHT-L": 1, "MUG-OF": 1}), headers=devstack.web
        )
        assert response.status_code == 201
        ids.append(response.json()["order_id"])
    os.kill(devstack.child_pid("import worker"), signal.SIGKILL)
    for order_id in ids:
        devstack.wait_for(order_id, "completed", within=90)
    assert "worker exited with code -9; restarting it" in devstack.output()
    engine = create_engine(f"sqlite:///{devstack.data / 'orderflow.db'}")
    with engine.connect() as db:
        for table in ("reservations", "pick_lists", "shipments", "invoices"):
            counts = db.execute(text(f"SELECT order_id, COUNT(*) FROM {table} GROUP BY order_id")).all()
            per_order: dict[str, int] = dict(counts)
            expected = 2 if table == "reservations" else 1
            assert all(per_order[order_id] == expected for order_id in ids), (table, per_order)
        stock: dict[str, int] = dict(db.execute(text("SELECT sku, on_hand FROM stock WHERE reserved = 0")).all())
    engine.dispose()
    assert stock["TEE-WHT-L"] == 100 - 10 and stock["MUG-OF"] == 50 - 10

    # A second stack on the same ports says so and leaves the first alone.
    second = subprocess.run([str(BIN / "orderflow-dev")], env=devstack.env, capture_output=True, text=True, timeout=60)
    assert second.returncode != 0
    assert "already in use" in second.stderr

    # Ctrl-C stops everything; starting again on the same data just works, with the orders still there.
    assert devstack.stop() == 0
    devstack.start()
    assert devstack.wait_for(first_id, "completed")["order_id"] == first_id
    assert devstack.output().count("seeded the demo catalog") == 1
    assert devstack.output().count("admin key:") == 1  # shown once, on the first start only
    secret = devstack.admin["Authorization"].removeprefix("Bearer ")
    assert devstack.output().count(secret) == 2  # its line and the export line; never in a log line
    assert "orderflow-keys create" in devstack.output()
    assert httpx.get(f"{devstack.api}/v1/inventory", headers=devstack.web).status_code == 403
    assert httpx.get(f"{devstack.api}/v1/inventory", headers=devstack.admin).status_code == 200
    assert devstack.stop() == 0


def test_ctrl_c_in_a_terminal_stops_every_process_cleanly(devstack: DevStack) -> None:
    """The terminal sends SIGINT to the whole process group: the children may stop before the stack
    itself has seen the signal, and must not be taken for crashes (the worst order: children first)."""
    devstack.env["ORDERFLOW_WORKER_PROCESSES"] = "1"
    proc = devstack.start(own_group=True)
    children = [int(line.split()[0]) for line in in_session(proc.pid) if int(line.split()[0]) != proc.pid]
    assert len(children) == 3, in_session(proc.pid)  # Temporal, worker, API
    for pid in children:
        os.kill(pid, signal.SIGINT)
    time.sleep(1.5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=60) == 0, devstack.output()[-3000:]
    after_start = devstack.output().split("Press Ctrl-C to stop.", 1)[1]
    assert "stopping orderflow" in after_start
    for noise in ("Traceback", "restarting", "exited with code", "killing it"):
        assert noise not in after_start, after_start
    assert in_session(proc.pid) == []
    with sqlite3.connect(devstack.data / "temporal.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
