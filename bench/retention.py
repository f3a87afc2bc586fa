"""Pruning one million outbox rows while orders flow: is order throughput within 10 % of the throughput
without pruning?

    .venv/bin/python -m bench.retention [--sqlite] [--rows 1000000] [--orders 300] [--clients 8]

One stack (Temporal dev server, one worker in auto warehouse mode, one API) on a fresh PostgreSQL
database (or, with --sqlite, the embedded SQLite default). First `--rows` settled outbox events (handed
to webhooks and published, a year old) are inserted in bulk and the database settled (vacuum,
checkpoint). Phase 1 submits `--orders` orders and times until all are completed. Phase 2 submits the
same number of orders while this process prunes the `events` table with the retention activity's own
code (batches of `--batch`, one transaction each, resting `--pause-ratio` times as long as each batch
took), and times the orders again.
The result (JSON) has both throughputs, their ratio, and how many rows went at what rate.
"""

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import text
from temporalio.testing import ActivityEnvironment

from activities.retention import RetentionActivities
from bench.stack import SERVER_SQLITE, PostgresDatabase, Stack, migrate_database
from domain.retention import PruneTable
from store.db import create_engine, create_sessions

WAREHOUSE = "MAIN"
SKUS = tuple(f"RET-{i:03d}" for i in range(20))


async def seed(http: httpx.AsyncClient) -> None:
    for sku in SKUS:
        (await http.put(f"/v1/products/{sku}", json={"name": sku, "unit_price": "10.00"})).raise_for_status()
        for _ in range(50):  # the API commits after answering: the product may not be visible yet
            response = await http.put(f"/v1/inventory/{WAREHOUSE}/{sku}", json={"on_hand": 1_000_000})
            if response.status_code != 404:
                break
            await asyncio.sleep(0.05)
        response.raise_for_status()


def order(run: str, i: int) -> dict[str, Any]:
    return {
        "channel": "web",
        "external_id": f"{run}-{i:06d}",
        "customer": {"id": "C-42", "name": "Li Wei", "email": "li.wei@example.com"},
        "ship_to": {
            "name": "Li Wei",
            "line1": "88 Century Ave",
            "city": "Shanghai",
            "postal_code": "200120",
            "country": "CN",
        },
        "currency": "CNY",
        "lines": [{"sku": SKUS[i % len(SKUS)], "quantity": 1, "unit_price": "10.00"}],
    }


async def orders_phase(http: httpx.AsyncClient, db: str, count: int, clients: int, deadline_s: float = 900) -> float:
    """Orders per second, from the first submit until the last order is completed; an error naming the
    orders still open after `deadline_s` (a stuck order would otherwise keep the bench waiting forever)."""
    run = uuid.uuid4().hex[:8]
    started = time.monotonic()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def client() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            for _ in range(10):  # 503: Temporal did not take it in time on a loaded machine; safe to resend
                response = await http.post("/v1/orders", json=order(run, i))
                if response.status_code != 503:
                    break
                await asyncio.sleep(1)
            response.raise_for_status()

    await asyncio.gather(*(client() for _ in range(clients)))
    engine = create_engine(db)
    completed = text("SELECT count(*) FROM orders WHERE external_id LIKE :run AND status = 'completed'")
    stragglers = text("SELECT order_id, status FROM orders WHERE external_id LIKE :run AND status <> 'completed'")
    try:
        while True:
            async with engine.connect() as connection:
                done = (await connection.execute(completed, {"run": f"{run}-%"})).scalar_one()
                if done < count and time.monotonic() - started > deadline_s:
                    left = (await connection.execute(stragglers, {"run": f"{run}-%"})).all()
                    raise RuntimeError(f"{count - done} order(s) not completed after {deadline_s:.0f} s: {left[:10]}")
            if done >= count:
                return count / (time.monotonic() - started)
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()


async def fill_outbox(db: str, rows: int) -> float:
    """Settled events, a year old, inserted in bulk; seconds it took."""
    if db.startswith("sqlite"):
        started = time.monotonic()
        await asyncio.to_thread(_fill_sqlite, db.split("///", 1)[1], rows)
        return time.monotonic() - started
    started = time.monotonic()
    connection = await asyncpg.connect(db.replace("postgresql+asyncpg", "postgresql"))
    try:
        await connection.execute(
            """
            INSERT INTO events (event_id, type, order_id, occurred_at, data, created_at, dispatched_at, published_at)
            SELECT md5(g::text || 'bench')::uuid::text, 'order.shipped', 'web-BENCH-' || g,
                   now() - interval '365 days', '{}'::json, now() - interval '365 days',
                   now() - interval '365 days', now() - interval '365 days'
            FROM generate_series(1, $1) AS g
            """,
            rows,
        )
        # Settled before timing: a bulk insert leaves autovacuum and a checkpoint to come, which would
        # land on whichever phase runs next and be taken for the cost of pruning.
        await connection.execute("VACUUM (ANALYZE) events")
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()
    return time.monotonic() - started


def _fill_sqlite(path: str, rows: int, chunk: int = 50_000) -> None:
    """In chunks, each its own transaction: the running stack writes to the same file meanwhile."""
    year_ago = "strftime('%Y-%m-%d %H:%M:%f', 'now', '-365 days')"
    with sqlite3.connect(path, timeout=60) as db:
        for first in range(1, rows + 1, chunk):
            last = min(first + chunk - 1, rows)
            db.execute(
                f"""
                INSERT INTO events (event_id, type, order_id, occurred_at, data, created_at, dispatched_at,
                                    published_at)
                WITH RECURSIVE g(n) AS (SELECT ? UNION ALL SELECT n + 1 FROM g WHERE n < ?)
                SELECT printf('bench-%d', n), 'order.shipped', 'web-BENCH-' || n, {year_ago}, '{{}}',
                       {year_ago}, {year_ago}, {year_ago}
                FROM g
                """,
                (first, last),
            )
            db.commit()
        db.execute("ANALYZE events")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


async def prune(db: str, batch: int, pause_ratio: float) -> tuple[int, float]:
    engine = create_engine(db)
    activities = RetentionActivities(create_sessions(engine), Path(tempfile.mkdtemp()), pause_ratio)
    started = time.monotonic()
    deleted = 0
    try:
        while True:
            # The activity's own code, outside a worker (its heartbeats go nowhere).
            pruned = await _run_activity(activities, PruneTable("events", 30, batch))
            deleted += pruned
            if pruned == 0:
                break
    finally:
        await engine.dispose()
    return deleted, time.monotonic() - started


async def _run_activity(activities: RetentionActivities, req: PruneTable) -> int:
    result = await ActivityEnvironment().run(activities.prune_table, req)
    return result.deleted


async def run(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="orderflow-retention-bench-"))
    database = None if args.sqlite else PostgresDatabase()
    if database is not None:
        await database.create()
    url = database.url if database is not None else f"sqlite+aiosqlite:///{root / 'orderflow.db'}"
    stack = Stack(root, url, "WARNING", {}, SERVER_SQLITE[0])
    try:
        await migrate_database(url, WAREHOUSE)
        await stack.authorize()
        await stack.start_temporal()
        stack.start_worker("worker", "orders", "auto", relay=True)
        await stack.start_api("api", "orders")
        async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.headers, timeout=60) as http:
            await seed(http)
            await orders_phase(http, url, 20, args.clients)  # warm-up
            # The rows are there in both phases, so that only the pruning differs.
            fill_s = await fill_outbox(url, args.rows)
            print(f"{args.rows} rows in {fill_s:.0f} s; orders without pruning", file=sys.stderr, flush=True)
            without = await orders_phase(http, url, args.orders, args.clients)
            print(f"without pruning: {without:.2f} orders/s; orders while pruning", file=sys.stderr, flush=True)
            pruning = asyncio.create_task(prune(url, args.batch, args.pause_ratio))
            during = await orders_phase(http, url, args.orders, args.clients)
            pruned_during = not pruning.done()
            deleted, prune_s = await pruning
        return {
            "database": "sqlite" if database is None else "postgresql",
            "rows": args.rows,
            "orders": args.orders,
            "clients": args.clients,
            "batch": args.batch,
            "pause_ratio": args.pause_ratio,
            "orders_per_s_without_pruning": round(without, 2),
            "orders_per_s_during_pruning": round(during, 2),
            "ratio": round(during / without, 3),
            "pruning_covered_the_whole_order_phase": pruned_during,
            "fill_seconds": round(fill_s, 1),
            "deleted": deleted,
            "prune_seconds": round(prune_s, 1),
            "rows_per_s": round(deleted / prune_s) if prune_s else None,
        }
    finally:
        stack.stop_all()
        if database is not None:
            await database.drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sqlite", action="store_true", help="the embedded SQLite default, not PostgreSQL")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--pause-ratio", type=float, default=3.0, help="ORDERFLOW_RETENTION_PAUSE_RATIO")
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
