"""A run: start the stack, run the phases asked for, write the results file and print the report."""

import asyncio
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.client import Client

from bench.floor import FLOOR_LOCAL_WORKFLOW, FLOOR_WORKFLOW
from bench.load import WAREHOUSE, catalog, seed
from bench.measure import RESULTS
from bench.options import Options, parse_args
from bench.phases.floor import floor_phase
from bench.phases.orderflow import orderflow_phase
from bench.phases.parked import parked_phase
from bench.phases.submit import submit_phase
from bench.report import render
from bench.rules import archive_rules, compare, install_rules
from bench.stack import PostgresDatabase, Stack, migrate_database

REPO = Path(__file__).resolve().parents[1]


def code_version() -> str:
    """The commit measured, and whether the work tree differs from it in orderflow's own code."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", ".", ":!bench", ":!docs", ":!Makefile"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git work tree)"
    return f"{commit} with {len(changed)} changed files" if changed else commit


async def run(opts: Options) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:6].upper()
    root = Path(tempfile.mkdtemp(prefix="orderflow-bench-"))
    postgres = PostgresDatabase() if opts.postgres else None
    if postgres is not None:
        await postgres.create()
        url = postgres.url
    else:
        url = f"sqlite+aiosqlite:///{root / 'orderflow.db'}"
    stack = Stack(root, url, opts.log_level, opts.worker_options, opts.server_sqlite)
    results: dict[str, Any] = {
        "started": datetime.now().astimezone().isoformat(timespec="seconds"),
        "database": "postgresql" if postgres else "sqlite",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(opts).items()},
        "temp_dir": str(root),
        "code": code_version(),
    }
    db = create_async_engine(url)
    failed = True
    try:
        print(f"starting Temporal on {stack.temporal_address} (logs under {stack.logs})", flush=True)
        await stack.start_temporal()
        await migrate_database(url, WAREHOUSE)
        await stack.authorize()
        client = await Client.connect(stack.temporal_address)
        if "floor" not in opts.skip:
            print(f"floor: {opts.floor} bare workflows", flush=True)
            results["floor"] = await floor_phase(
                stack, client, FLOOR_WORKFLOW, opts.floor, opts.clients, run_id, opts.workers
            )
        if "local-floor" not in opts.skip:
            print(f"floor: {opts.floor} bare workflows, local activities", flush=True)
            results["floor_local"] = await floor_phase(
                stack, client, FLOOR_LOCAL_WORKFLOW, opts.floor, opts.clients, run_id, opts.workers
            )
        if "submit" not in opts.skip or "orderflow" not in opts.skip or "parked" not in opts.skip or opts.rules:
            await seed(stack, catalog(opts.skus))
        if "submit" not in opts.skip:
            print("submit: start-only endpoint against POST /v1/orders", flush=True)
            results["submit"] = await submit_phase(stack, client, opts, run_id)
        if "orderflow" not in opts.skip:
            print(f"orderflow: {opts.orders} orders end to end", flush=True)
            results["orderflow"] = await orderflow_phase(stack, client, db, opts, run_id)
        if opts.rules > 0:
            print(f"rules: {opts.orders} orders end to end without, then with {opts.rules} active rules", flush=True)
            without = await orderflow_phase(stack, client, db, opts, f"{run_id}N", channel="norules")
            installed = await install_rules(db, opts.rules)
            with_rules = await orderflow_phase(stack, client, db, opts, f"{run_id}R", channel="rules")
            await archive_rules(db, installed)
            results["rules"] = compare(without, with_rules, opts.rules)
        if "parked" not in opts.skip:
            print(f"parked: {opts.parked} orders waiting for pick confirmation", flush=True)
            results["parked"] = await parked_phase(stack, client, db, opts, run_id)
        failed = False
    finally:
        stack.stop_all()
        await db.dispose()
        if postgres is not None:
            await postgres.drop()
        if failed or opts.keep:
            print(f"logs and databases kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return results


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    opts = parse_args(argv)
    # Stopped from outside, still stop the stack on the way out.
    signal.signal(signal.SIGTERM, _interrupt)
    results = asyncio.run(run(opts))
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = opts.out or RESULTS / f"{stamp}-{results['database']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    results["json"] = str(out)
    out.write_text(json.dumps(results, indent=2, default=str))
    print("\n" + render(results))
