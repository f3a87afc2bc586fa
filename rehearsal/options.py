"""The command line: the day's size, speed and seed, the database, and which faults happen."""

import argparse
from dataclasses import dataclass
from pathlib import Path

import rehearsal
from config import Settings
from rehearsal.demand import Faults
from rehearsal.stack import WORKER_ENTRY


@dataclass(frozen=True)
class Options:
    orders: int
    hours: float
    speed: float
    seed: int
    postgres: bool
    faults: Faults
    workers: int
    handlers: int
    drain_hours: float
    out: Path
    keep: bool
    worker_entry: str = WORKER_ENTRY


def parse_args(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(
        prog="orderflow-rehearse", description=rehearsal.__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--orders", type=int, default=1000, help="orders in the day (default 1000)")
    p.add_argument("--hours", type=float, default=12, help="simulated business hours of arrivals (default 12)")
    p.add_argument("--speed", type=float, default=90, help="simulated seconds per real second (default 90)")
    p.add_argument("--seed", type=int, default=7, help="the day's seed: the same seed, the same day (default 7)")
    p.add_argument("--postgres", action="store_true", help="orderflow's database on PostgreSQL at 127.0.0.1:5432")
    p.add_argument("--workers", type=int, default=Settings().worker_count(), help="worker processes (as make run)")
    p.add_argument("--handlers", type=int, default=3, help="people working the exception queue (default 3)")
    p.add_argument(
        "--drain-hours",
        type=float,
        default=8,
        help="at most this many simulated hours after the last arrival for orders to settle (default 8)",
    )
    p.add_argument("--out", type=Path, default=Path(".rehearsals"), help="where the run's folder goes")
    p.add_argument("--keep", action="store_true", help="keep the stack's temp dir (logs, databases)")
    for name in Faults.NAMES:
        p.add_argument(f"--no-{name.replace('_', '-')}", action="store_true", help=f"leave out the fault {name}")
    p.add_argument("--no-faults", action="store_true", help="a quiet day: no fault at all")
    p.add_argument("--worker-entry", default=WORKER_ENTRY, help=argparse.SUPPRESS)  # tests run a broken build
    a = p.parse_args(argv)
    faults = Faults(**{name: not (a.no_faults or getattr(a, f"no_{name}")) for name in Faults.NAMES})
    return Options(
        orders=a.orders,
        hours=a.hours,
        speed=a.speed,
        seed=a.seed,
        postgres=a.postgres,
        faults=faults,
        workers=max(1, a.workers),
        handlers=max(1, a.handlers),
        drain_hours=a.drain_hours,
        out=a.out,
        keep=a.keep,
        worker_entry=a.worker_entry,
    )
