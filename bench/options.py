"""The command line: what to run and at what sizes."""

import argparse
from dataclasses import dataclass
from pathlib import Path

import bench
from bench.stack import SERVER_SQLITE
from config import Settings

PHASES = ("floor", "local-floor", "submit", "orderflow", "parked")


@dataclass(frozen=True)
class Options:
    floor: int
    skip: frozenset[str]
    skus: int
    workers: int
    server_sqlite: str
    orders: int
    clients: int
    submit_requests: int
    submit_clients: int
    unloaded_requests: int
    parked: int
    probes: int
    postgres: bool
    profile: bool
    log_level: str
    out: Path | None
    keep: bool
    worker_options: dict[str, str]
    rules: int = 0


def parse_args(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(
        prog="python -m bench", description=bench.__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--floor", type=int, default=200, help="bare workflows per floor run (default 200)")
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=PHASES,
        help="leave a phase out (repeatable): " + ", ".join(PHASES),
    )
    p.add_argument("--orders", type=int, default=200, help="orders end to end (default 200)")
    p.add_argument("--skus", type=int, default=20, help="products the orders spread over (default 20)")
    p.add_argument(
        "--workers",
        type=int,
        default=Settings().worker_count(),
        help="worker processes, floor and orderflow alike (default: as `make run`, one per core, at most 4)",
    )
    p.add_argument("--clients", type=int, default=8, help="concurrent clients submitting floor and orders (default 8)")
    p.add_argument("--submit-requests", type=int, default=900, help="requests per submit endpoint under load")
    p.add_argument("--submit-clients", type=int, default=32, help="concurrent clients for the submit comparison")
    p.add_argument("--unloaded-requests", type=int, default=150, help="one-client requests per submit endpoint")
    p.add_argument("--parked", type=int, default=500, help="orders left waiting for pick confirmation (0 skips)")
    p.add_argument("--probes", type=int, default=20, help="new orders timed before and after parking")
    p.add_argument(
        "--server-sqlite",
        choices=SERVER_SQLITE,
        default="wal-normal",
        help="what-if: the dev server's journaling (default wal-normal, as make run)",
    )
    p.add_argument(
        "--rules",
        type=int,
        default=0,
        help="also run orders end to end without and then with this many active business rules (e.g. 50; 0 skips)",
    )
    p.add_argument("--postgres", action="store_true", help="orderflow's database on PostgreSQL at 127.0.0.1:5432")
    p.add_argument("--profile", action="store_true", help="py-spy the worker and API during the orderflow run")
    p.add_argument("--log-level", default="INFO", help="ORDERFLOW_LOG_LEVEL of worker and API (default INFO)")
    p.add_argument("--out", type=Path, help="JSON file to write (default bench/results/<time>-<db>.json)")
    p.add_argument("--keep", action="store_true", help="keep the run's temp dir (logs, databases)")
    p.add_argument(
        "--worker-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="what-if: a temporalio Worker argument for both the floor and orderflow workers, e.g.\n"
        "max_concurrent_workflow_task_polls=10, workflow_task_poller_behavior=autoscaling",
    )
    a = p.parse_args(argv)
    return Options(
        floor=a.floor,
        skus=a.skus,
        workers=a.workers,
        server_sqlite=a.server_sqlite,
        skip=frozenset(a.skip) | ({"parked"} if a.parked <= 0 else set()),
        orders=a.orders,
        clients=a.clients,
        submit_requests=a.submit_requests,
        submit_clients=a.submit_clients,
        unloaded_requests=a.unloaded_requests,
        parked=a.parked,
        probes=a.probes,
        postgres=a.postgres,
        profile=a.profile,
        log_level=a.log_level,
        out=a.out,
        keep=a.keep,
        worker_options=dict(option.split("=", 1) for option in a.worker_option),
        rules=a.rules,
    )
