"""Real processes for fault drills: a Temporal dev server on a data file, workers and APIs that can be
killed with SIGKILL and started again. Output goes to files, never to a pipe nobody reads."""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from config import Settings
from devstack import free_port, temporal_server_command
from tests.conftest import BIN


def wait_for_port(port: int, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert time.monotonic() < deadline, f"nothing listens on {port}"
        time.sleep(0.2)


class Processes:
    def __init__(self, tmp: Path, database_url: str, **env: str) -> None:
        self.tmp = tmp
        self.temporal_port = free_port()
        self.api_port = free_port()
        self.address = f"127.0.0.1:{self.temporal_port}"
        self.env = {
            **os.environ,
            "ORDERFLOW_DATA_DIR": str(tmp),
            "ORDERFLOW_DATABASE_URL": database_url,
            "ORDERFLOW_TEMPORAL_ADDRESS": self.address,
            "ORDERFLOW_API_PORT": str(self.api_port),
            "ORDERFLOW_TASK_QUEUE": f"drill-{self.temporal_port}",
            "ORDERFLOW_LOG_FORMAT": "json",
            **env,
        }
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self, name: str) -> subprocess.Popen[bytes]:
        if name == "temporal":
            settings = Settings(data_dir=self.tmp, temporal_address=self.address, temporal_ui_port=free_port())
            command = [*temporal_server_command(settings, "127.0.0.1", self.temporal_port), "--headless"]
        else:
            command = [str(BIN / f"orderflow-{name}")]
        ready_before = self.log_text("worker").count('"worker running"') if name == "worker" else 0
        with open(self.tmp / f"{name}.log", "ab") as out:
            self.running[name] = subprocess.Popen(command, env=self.env, stdout=out, stderr=out)
        if name == "temporal":
            wait_for_port(self.temporal_port)
        if name == "worker":
            # Polling before the drill goes on: a kill during start-up would cut off no step.
            deadline = time.monotonic() + 90
            while self.log_text("worker").count('"worker running"') <= ready_before:
                assert time.monotonic() < deadline, self.log("worker")
                assert self.running[name].poll() is None, self.log("worker")
                time.sleep(0.1)
        if name == "api":
            deadline = time.monotonic() + 90
            while True:
                try:
                    if httpx.get(f"{self.api}/healthz", timeout=2).status_code in (200, 503):
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, self.log("api")
                time.sleep(0.2)
        return self.running[name]

    def kill(self, name: str) -> None:
        proc = self.running.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    def log_text(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def log(self, name: str) -> str:
        return self.log_text(name)[-4000:]

    def stop_all(self) -> None:
        for name in list(self.running):
            proc = self.running.pop(name)
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
