"""The benchmark's own dev stack: Temporal dev server, worker(s), API and database, each a process
whose CPU time and peak memory are read from /proc."""

import asyncio
import contextlib
import ctypes
import importlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

import devstack
from config import Settings
from store import migrate
from store.db import create_engine, create_sessions

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PG_ADMIN_DSN = os.environ.get("ORDERFLOW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _die_with_parent() -> None:
    """Children get SIGTERM when the bench dies, even by SIGKILL: no server left behind."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _children_of(pid: int) -> list[int]:
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def cpu_seconds(pid: int) -> float:
    """User plus system time of the process (all its threads) so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def status_kib(pid: int, key: str) -> int:
    """A memory figure from /proc/<pid>/status in KiB: VmHWM is the peak resident set, VmRSS the current."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def machine_busy_seconds() -> float:
    """CPU time the whole machine has been busy (all cores, every process), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


def postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
    return pids


SERVER_SQLITE = ("wal-normal", "wal-full", "sqlite-default")


def server_journal(command: list[str], mode: str) -> list[str]:
    """The dev server command as `make run` has it (wal-normal), or with full syncs on every commit
    (wal-full), or with SQLite's own defaults, a rollback journal synced on every commit (sqlite-default)."""
    out: list[str] = []
    pragmas = iter(command)
    for arg in pragmas:
        if arg != "--sqlite-pragma":
            out.append(arg)
            continue
        pragma = next(pragmas)
        if mode == "sqlite-default":
            continue
        out += [arg, "synchronous=full" if mode == "wal-full" and pragma.startswith("synchronous=") else pragma]
    return out


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tree(self) -> list[int]:
        return [self.pid, *_children_of(self.pid)]

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.tree())

    def peak_rss_mib(self) -> float:
        return sum(status_kib(pid, "VmHWM") for pid in self.tree()) / 1024

    def rss_mib(self) -> float:
        return sum(status_kib(pid, "VmRSS") for pid in self.tree()) / 1024

    def alive(self) -> bool:
        return self.popen.poll() is None


@dataclass
class CpuWindow:
    """CPU used by each process between start() and stop(), over the same wall-clock window."""

    processes: dict[str, Process]
    postgres: bool = False
    started: float = 0.0
    wall: float = 0.0
    before: dict[str, float] = field(default_factory=dict)
    used: dict[str, float] = field(default_factory=dict)

    def _now(self) -> dict[str, float]:
        now = {name: p.cpu() for name, p in self.processes.items()}
        now["bench driver"] = cpu_seconds(os.getpid())
        if self.postgres:
            now["postgresql"] = sum(cpu_seconds(pid) for pid in postgres_pids())
        now["machine"] = machine_busy_seconds()
        return now

    def start(self) -> None:
        self.started = time.monotonic()
        self.before = self._now()

    def stop(self) -> None:
        """Adds this window to the earlier ones: a window may be opened and closed several times."""
        self.wall += time.monotonic() - self.started
        after = self._now()
        used = {name: max(0.0, after[name] - self.before.get(name, 0.0)) for name in after}
        machine = used.pop("machine")
        # Anything else running on the machine meanwhile (another stack, a test run) disturbs the figures.
        used["other processes"] = max(0.0, machine - sum(used.values()))
        for name, seconds in used.items():
            self.used[name] = self.used.get(name, 0.0) + seconds

    def per_item_ms(self, items: int) -> dict[str, float]:
        """CPU milliseconds per workflow or order: steadier than rates when the machine is shared."""
        return {name: round(1000 * used / max(1, items), 1) for name, used in self.used.items()}

    def report(self) -> dict[str, dict[str, float]]:
        busy = sum(self.used.values()) or 1.0
        ncpu = os.cpu_count() or 1
        return {
            name: {
                "cpu_seconds": round(used, 2),
                "percent_of_one_core": round(100 * used / self.wall, 1) if self.wall else 0.0,
                "percent_of_machine": round(100 * used / (self.wall * ncpu), 1) if self.wall else 0.0,
                "share_of_busy_cpu": round(100 * used / busy, 1),
            }
            for name, used in self.used.items()
            if used > 0 or name in self.processes
        }


class Stack:
    """Processes started with files for their output (never a pipe nobody reads), stopped on exit."""

    def __init__(
        self, root: Path, database_url: str, log_level: str, worker_options: dict[str, str], server_sqlite: str
    ) -> None:
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.database_url = database_url
        self.log_level = log_level
        self.worker_options = worker_options
        self.server_sqlite = server_sqlite
        self.temporal_address = f"127.0.0.1:{devstack.free_port()}"
        self.api_port = devstack.free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.processes: dict[str, Process] = {}
        self.headers: dict[str, str] = {}
        self.sql_counts: dict[str, Path] = {}

    @property
    def uses_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "ORDERFLOW_DATA_DIR": str(self.root),
            "ORDERFLOW_DATABASE_URL": self.database_url,
            "ORDERFLOW_TEMPORAL_ADDRESS": self.temporal_address,
            "ORDERFLOW_API_PORT": str(self.api_port),
            "ORDERFLOW_API_HOST": "127.0.0.1",
            "ORDERFLOW_LOG_FORMAT": "json",
            "ORDERFLOW_LOG_LEVEL": self.log_level,
            "BENCH_WORKER_OPTIONS": json.dumps(self.worker_options),
            # A per-key rate limit is policy, not cost: lift it so it does not cap what is measured.
            "ORDERFLOW_RATE_LIMIT_PER_SECOND": "1000000",
            "ORDERFLOW_RATE_LIMIT_BURST": "1000000",
            **extra,
        }

    def _start(self, name: str, command: list[str], env: dict[str, str]) -> Process:
        log = self.logs / f"{name}.log"
        with open(log, "ab") as out:
            popen = subprocess.Popen(
                command,
                stdout=out,
                stderr=out,
                env=env,
                cwd=Path(__file__).resolve().parent.parent,
                preexec_fn=_die_with_parent,
            )
        process = Process(name, popen, log)
        self.processes[name] = process
        return process

    async def start_temporal(self) -> Process:
        host, _, port = self.temporal_address.rpartition(":")
        settings = Settings(data_dir=self.root, temporal_ui_port=devstack.free_port())
        command = server_journal(devstack.temporal_server_command(settings, host, int(port)), self.server_sqlite)
        process = self._start("temporal server", command, self.env())
        await devstack.wait_for_temporal(self.temporal_address, time.monotonic() + 90)
        return process

    def start_worker(self, name: str, task_queue: str, warehouse_mode: str, relay: bool = True) -> Process:
        counts = self.logs / f"{name.replace(' ', '-')}.sql.json"
        counts.unlink(missing_ok=True)
        self.sql_counts[name] = counts
        env = self.env(
            ORDERFLOW_TASK_QUEUE=task_queue,
            ORDERFLOW_WAREHOUSE_MODE=warehouse_mode,
            ORDERFLOW_AUTO_PICK_DELAY_SECONDS="0",
            BENCH_SQL_COUNTS=str(counts),
            ORDERFLOW_RELAY=str(relay).lower(),
        )
        return self._start(name, [sys.executable, "-c", "import bench.probe; bench.probe.run_worker()"], env)

    def start_floor_worker(self, name: str, task_queue: str) -> Process:
        env = self.env(ORDERFLOW_TASK_QUEUE=task_queue)
        return self._start(name, [sys.executable, "-c", "import bench.floor; bench.floor.main()"], env)

    async def start_api(self, name: str, task_queue: str) -> Process:
        counts = self.logs / f"{name.replace(' ', '-')}.sql.json"
        counts.unlink(missing_ok=True)
        self.sql_counts[name] = counts
        env = self.env(ORDERFLOW_TASK_QUEUE=task_queue, BENCH_SQL_COUNTS=str(counts))
        process = self._start(name, [sys.executable, "-c", "import bench.api_server; bench.api_server.main()"], env)
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as http:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.api_url}/healthz", timeout=2)).status_code == 200:
                        return process
                if not process.alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"the API did not come up; see {process.log}")
                await asyncio.sleep(0.2)

    async def authorize(self) -> None:
        """An admin API key for the bench's requests, when the API asks for keys (access control);
        an API without keys gets no header."""
        try:
            keys = importlib.import_module("store.keys")
            admin = importlib.import_module("domain.access").Role.ADMIN
        except (ImportError, AttributeError):
            return
        engine = create_engine(self.database_url)
        try:
            async with create_sessions(engine).begin() as session:
                _, secret = await keys.create(session, "bench", admin)
        finally:
            await engine.dispose()
        self.headers = {"Authorization": f"Bearer {secret}"}

    def stop(self, name: str, timeout: float = 30) -> None:
        process = self.processes.pop(name, None)
        if process is None or not process.alive():
            return
        process.popen.send_signal(signal.SIGTERM)
        try:
            process.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.popen.kill()
            process.popen.wait()

    def stop_all(self) -> None:
        for name in reversed(list(self.processes)):
            self.stop(name)


async def migrate_database(url: str, warehouse: str) -> None:
    await asyncio.to_thread(migrate.upgrade, url)
    await migrate.ensure_default_warehouse(url, warehouse)


class PostgresDatabase:
    """A database of its own for one run on the machine's PostgreSQL, dropped afterwards."""

    def __init__(self) -> None:
        self.name = f"orderflow_bench_{uuid.uuid4().hex[:10]}"
        base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        self.url = f"{base}/{self.name}"

    async def create(self) -> None:
        admin = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await admin.execute(f'CREATE DATABASE "{self.name}"')
        finally:
            await admin.close()

    async def drop(self) -> None:
        admin = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            await admin.close()
