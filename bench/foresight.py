"""The forecasting run at scale: 10,000 SKUs x 3 warehouses with 180 days of demand history.

`make bench-foresight` (ARGS="--postgres" for PostgreSQL): a fresh database is seeded (products, stock,
180 days of daily demand - half the series smooth, half intermittent - and some inbound), then one
Forecast workflow runs on a Temporal dev server with one worker, as the Schedule would start it. The
figure is the run's wall time, from start to result; the seeding is not timed."""

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import Table, insert
from temporalio.testing import WorkflowEnvironment

from domain.contract import WorkflowType, forecast_workflow_id
from domain.foresight import ForecastRun, ForecastSummary
from store import migrate
from store.db import create_engine, create_sessions
from store.sql import utcnow
from store.tables import DemandDay, InboundLineRow, InboundRow, Product, Stock, Warehouse
from tests.conftest import fresh_postgres, settings_for
from worker import build_worker

WAREHOUSES = ("BJ", "SH", "GZ")
BIN = Path(sys.executable).parent


async def seed(url: str, skus: int, days: int) -> int:
    rng = np.random.default_rng(10_000)
    engine = create_engine(url)
    sessions = create_sessions(engine)
    now = utcnow()
    today = now.date()
    rows = 0
    try:
        async with sessions.begin() as s:
            await s.execute(
                insert(Warehouse), [{"code": w, "name": w, "country": "CN", "priority": 1} for w in WAREHOUSES]
            )
            names = [f"SKU-{i:05d}" for i in range(skus)]
            product = {"unit_price": 1000, "currency": "CNY", "active": True, "updated_at": now}
            await s.execute(insert(Product), [{"sku": n, "name": n, **product} for n in names])
            stock = [
                {"warehouse": w, "sku": n, "on_hand": int(rng.integers(0, 400)), "reserved": 0, "updated_at": now}
                for n in names
                for w in WAREHOUSES
            ]
            await s.execute(insert(Stock), stock)
            table: Table = DemandDay.__table__  # type: ignore[assignment]
            batch: list[dict[str, object]] = []
            for i, name in enumerate(names):
                for w in WAREHOUSES:
                    if i % 2 == 0:
                        series = rng.poisson(rng.uniform(2, 30), days)
                    else:
                        series = np.where(rng.random(days) < rng.uniform(0.05, 0.3), 1 + rng.poisson(4, days), 0)
                    for d in np.nonzero(series)[0]:
                        batch.append(
                            {
                                "sku": name,
                                "warehouse": w,
                                "day": today - timedelta(days=days - int(d)),
                                "quantity": int(series[d]),
                            }
                        )
                if len(batch) > 50_000:
                    await s.execute(insert(table), batch)
                    rows += len(batch)
                    batch = []
            await s.execute(insert(table), batch)
            rows += len(batch)
            for i in range(0, skus, 10):  # inbound for every tenth SKU
                inbound_id = f"IB-{i:012X}"
                at = now + timedelta(days=int(rng.integers(1, 20)))
                s.add(
                    InboundRow(
                        inbound_id=inbound_id,
                        warehouse="SH",
                        reference=f"PO-{i}",
                        expected_at=at,
                        status="open",
                        source="manual",
                        created_by="bench",
                        created_at=now,
                        updated_at=now,
                    )
                )
                await s.flush()
                s.add(InboundLineRow(inbound_id=inbound_id, sku=names[i], quantity=500, received=0))
    finally:
        await engine.dispose()
    return rows


async def run(url: str, skus: int, days: int) -> None:
    await asyncio.to_thread(migrate.upgrade, url)
    started = time.monotonic()
    rows = await seed(url, skus, days)
    print(
        f"seeded {skus} SKUs x {len(WAREHOUSES)} warehouses, {rows} demand days, in {time.monotonic() - started:.1f} s"
    )
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"), dev_server_log_level="error"
    )
    settings = settings_for(url, forecast_history_days=days)
    engine = create_engine(url)
    sessions = create_sessions(engine)
    try:
        async with build_worker(env.client, settings, sessions):
            started = time.monotonic()
            summary: ForecastSummary = await env.client.execute_workflow(
                WorkflowType.FORECAST,
                ForecastRun(batch_skus=settings.forecast_batch_skus),
                id=forecast_workflow_id("bench"),
                task_queue=settings.task_queue,
                result_type=ForecastSummary,
            )
            took = time.monotonic() - started
    finally:
        await engine.dispose()
        await env.shutdown()
    print(
        f"forecast run: {summary.series} series in {summary.batches} batches, {took:.1f} s "
        f"({summary.at_risk} at risk, {summary.raised} alerts raised, {summary.to_reorder} to reorder)"
    )


async def main_async(postgres: bool, skus: int, days: int) -> None:
    if postgres:
        async with fresh_postgres() as url:
            await run(url, skus, days)
        return
    with tempfile.TemporaryDirectory() as tmp:
        await run(f"sqlite+aiosqlite:///{tmp}/bench.db", skus, days)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.foresight", description=__doc__)
    p.add_argument("--postgres", action="store_true", help="on PostgreSQL at 127.0.0.1:5432")
    p.add_argument("--skus", type=int, default=10_000)
    p.add_argument("--days", type=int, default=180)
    a = p.parse_args()
    asyncio.run(main_async(a.postgres, a.skus, a.days))


if __name__ == "__main__":
    main()
