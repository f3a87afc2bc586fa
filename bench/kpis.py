"""GET /v1/kpis at scale: seed a read model with N orders over 30 days, then time the endpoint.

    python -m bench.kpis --database-url sqlite+aiosqlite:////tmp/kpis.db --orders 100000
    python -m bench.kpis --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/kpis_bench --orders 100000

The database is created and migrated if needed; seeding is skipped when it already holds the orders.
The seeding writes the read model's rows; the KPI rollup is then filled from them by the backfill
(store/kpi_backfill.py), as an upgraded database's is.
The orders are what the projection writes for real ones (rows, lines, timeline, reservations, pick
lists, shipments, exceptions, alerts), with a mix of outcomes: most ship on time untouched, some are
touched by people, some meet errors, some are late, some still open.
"""

import argparse
import asyncio
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from sqlalchemy import Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.app import create_app
from config import Settings
from domain.access import Role
from domain.kpis import percentile
from store import catalog, keys, kpi_backfill, migrate
from store.db import create_engine, create_sessions
from store.tables import (
    KPI_COUNTS,
    AlertRow,
    OrderEvent,
    OrderExceptionRow,
    OrderLineRow,
    OrderRow,
    PickList,
    Reservation,
    Shipment,
)

CHANNELS = ("web", "app", "b2b", "market")
WAREHOUSES = ("MAIN", "SH1")
CARRIERS = ("orderflow-post", "sf-express")
PEOPLE = tuple(f"key:handler{n}" for n in range(12))
BATCH = 2000


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


def order_rows(i: int, received: datetime, rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    """The read-model rows of one order, as the projection would have written them."""
    channel = CHANNELS[i % len(CHANNELS)]
    order_id = f"{channel}-B{i:07d}"
    warehouse, carrier = WAREHOUSES[i % 2], CARRIERS[(i // 2) % 2]
    ship_by = received + timedelta(hours=72)
    roll = rng.random()
    status = (
        "cancelled" if roll < 0.04 else "needs_attention" if roll < 0.08 else "picking" if roll < 0.12 else "completed"
    )
    if status == "completed" and rng.random() < 0.5:
        status = "delivered"
    quantity = rng.randint(1, 4)
    rows: dict[str, list[dict[str, Any]]] = {k: [] for k in ("orders", "lines", "events", "res", "picks", "ships")}
    rows |= {"exceptions": [], "alerts": []}
    rows["orders"].append(
        {
            "order_id": order_id,
            "channel": channel,
            "external_id": f"B{i:07d}",
            "customer_id": f"C{i % 5000}",
            "customer_name": "Bench Customer",
            "customer_email": "bench@example.com",
            "ship_to": {
                "name": "Bench",
                "line1": "1 Road",
                "city": "Shanghai",
                "postal_code": "200000",
                "country": "CN",
            },
            "currency": "CNY",
            "total": 1000 * quantity,
            "priority": "standard",
            "ship_by": ship_by,
            "status": status,
            "status_seq": 10,
            "at_risk": status == "needs_attention",
            "fingerprint": "0" * 64,
            "created_at": received,
            "updated_at": received,
        }
    )
    rows["lines"].append(
        {"order_id": order_id, "line_no": 1, "sku": "BENCH-1", "quantity": quantity, "unit_price": 1000}
    )
    at = received
    seq = 0

    def event(name: str, state: str, minutes: float, actor: str = "system", key: str | None = None) -> None:
        nonlocal at, seq
        at += timedelta(minutes=minutes)
        seq += 1
        rows["events"].append(
            {
                "order_id": order_id,
                "key": key or f"wf:{seq}",
                "status": state,
                "event": name,
                "detail": "",
                "actor": actor,
                "occurred_at": at,
            }
        )

    event("received", "received", 0)
    event("confirmed", "confirmed", 0.1)
    person = PEOPLE[i % len(PEOPLE)]
    if status == "cancelled":
        event("cancelled", "cancelled", rng.uniform(5, 600), person if rng.random() < 0.7 else "system")
        return rows
    short = rng.random() < 0.1
    reserved = quantity - 1 if short and quantity > 1 else quantity
    event("allocated", "allocated", 0.1, key="allocation:1")
    allocation = f"{order_id}.1"
    rows["res"].append(
        {
            "allocation_id": allocation,
            "sku": "BENCH-1",
            "order_id": order_id,
            "warehouse": warehouse,
            "quantity": max(reserved, 1),
            "state": "consumed",
            "created_at": at,
        }
    )
    if rng.random() < 0.1 or status == "needs_attention":
        kind = rng.choice(("address_rejected", "step_failed", "pick_overdue", "stock_shortage"))
        exception_id = f"{order_id}-EX1"
        raised = at + timedelta(minutes=1)
        resolved = None if status == "needs_attention" else raised + timedelta(minutes=rng.uniform(5, 600))
        rows["exceptions"].append(
            {
                "exception_id": exception_id,
                "order_id": order_id,
                "kind": kind,
                "step": "ship",
                "message": "bench",
                "blocking": True,
                "escalation_level": 0,
                "allowed_actions": ["retry", "cancel"],
                "raised_at": raised,
                "resolved_at": resolved,
                "resolution": "retry" if resolved else None,
                "resolved_by": person if resolved else None,
                "note": "",
            }
        )
        rows["alerts"].append(
            {
                "alert_id": f"{exception_id}:at-risk",
                "kind": "sla_at_risk",
                "order_id": order_id,
                "exception_id": exception_id,
                "level": 0,
                "message": "bench",
                "raised_at": raised,
                "acknowledged_at": raised + timedelta(minutes=3) if resolved else None,
                "acknowledged_by": person if resolved else None,
            }
        )
        event("exception_opened", "needs_attention", 1)
        if resolved is None:
            return rows
        event("exception_resolved", "allocated", (resolved - raised).total_seconds() / 60, person)
    if status == "picking":
        return rows
    pick_list = f"PL-{allocation}-{warehouse}"
    rows["picks"].append(
        {
            "pick_list_id": pick_list,
            "order_id": order_id,
            "warehouse": warehouse,
            "lines": [{"sku": "BENCH-1", "quantity": quantity}],
            "state": "confirmed",
            "created_at": at,
            "confirmed_at": at,
            "confirmed_by": "warehouse",
        }
    )
    late = rng.random() < 0.06
    event("picked", "picking", rng.uniform(30, 4000 if late else 2000), "warehouse" if rng.random() < 0.8 else person)
    event("shipped", "shipped", rng.uniform(5, 60))
    shipped = at
    if late:
        at = ship_by + timedelta(hours=rng.uniform(1, 24))
        shipped = at
    event("invoiced", "completed", 0.1)
    delivered = shipped + timedelta(hours=rng.uniform(12, 72)) if status == "delivered" else None
    if delivered:
        event("delivered", "delivered", (delivered - at).total_seconds() / 60, "partner:carrier")
    rows["ships"].append(
        {
            "shipment_id": f"SH-{allocation}-{warehouse}",
            "order_id": order_id,
            "pick_list_id": pick_list,
            "carrier": carrier,
            "tracking_number": f"OFB{i:09d}",
            "shipped_at": shipped,
            "handed_over_at": None,
            "delivered_at": delivered,
            "received_by": None,
        }
    )
    return rows


TABLES = (
    ("orders", OrderRow),
    ("lines", OrderLineRow),
    ("events", OrderEvent),
    ("res", Reservation),
    ("picks", PickList),
    ("ships", Shipment),
    ("exceptions", OrderExceptionRow),
    ("alerts", AlertRow),
)


async def seed(sessions: async_sessionmaker[AsyncSession], orders: int, end: datetime) -> None:
    async with sessions() as s:
        have = (await s.execute(select(func.count()).select_from(OrderRow))).scalar_one()
    if have >= orders:
        print(f"{have} orders already there: not seeding")
        return
    rng = random.Random(15)
    start = end - timedelta(days=30)
    step = timedelta(days=30) / orders
    began = time.perf_counter()
    for first in range(have, orders, BATCH):
        batch: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in TABLES}
        for i in range(first, min(first + BATCH, orders)):
            for name, rows in order_rows(i, start + i * step, rng).items():
                batch[name] += rows
        async with sessions.begin() as s:
            for name, model in TABLES:
                if batch[name]:
                    await s.execute(insert(_table(model)), batch[name])
        if (first // BATCH) % 10 == 0:
            print(f"  {first + BATCH} orders seeded ({time.perf_counter() - began:.0f} s)", flush=True)
    print(f"seeded {orders - have} orders in {time.perf_counter() - began:.0f} s")


async def fill_rollup(engine: AsyncEngine) -> None:
    """The rollup and the orders' KPI marks, by the backfill an upgraded database gets (store/kpi_backfill.py):
    the projection's own domain functions and rollup statement, over what the seeding wrote."""
    sessions = create_sessions(engine)
    async with sessions() as s:
        if (await s.execute(select(func.count()).select_from(KPI_COUNTS))).scalar_one():
            print("rollup already filled")
            return
    began = time.perf_counter()
    async with sessions.begin() as s:
        marked = await kpi_backfill.backfill(s)
    print(f"rollup filled from {marked} orders in {time.perf_counter() - began:.0f} s")
    if engine.dialect.name == "postgresql":
        # What autovacuum does soon after the backfill rewrote every order: the dead row versions leave
        # the open orders' index, and the planner learns the new columns.
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            for table in ("orders", "order_exceptions", "kpi_counts"):
                await autocommit.exec_driver_sql(f"VACUUM ANALYZE {table}")


async def measure(url: str, requests: int, end: datetime) -> dict[str, list[float]]:
    """Timings (ms) of the 30-day window ending at `end` (whole UTC days), and of one ending 37 minutes
    before it (parts of an hour and of a day at both ends, as the default window ending now has)."""
    settings = Settings(database_url=url, rate_limit_per_second=100_000, rate_limit_burst=100_000)
    engine = create_engine(url)
    sessions = create_sessions(engine)
    async with sessions.begin() as s:
        await catalog.ensure_warehouse(s, "MAIN", "Main")
        _, secret = await keys.create(s, f"bench-{time.time_ns()}", Role.VIEWER)
    await engine.dispose()
    app = create_app(settings)
    windows = {
        "whole days": end,
        "parts of hours and days": end - timedelta(minutes=37),
    }
    timings: dict[str, list[float]] = {name: [] for name in windows}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {secret}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers) as http:
            for name, to in windows.items():
                params = {"from": (to - timedelta(days=30)).isoformat(), "to": to.isoformat()}
                first = await http.get("/v1/kpis", params=params)  # warm: caches, the key lookup
                assert first.status_code == 200, first.text
                print(f"orders in the window ({name}):", first.json()["kpis"]["orders"])
            for _ in range(requests):
                for name, to in windows.items():
                    params = {"from": (to - timedelta(days=30)).isoformat(), "to": to.isoformat()}
                    began = time.perf_counter()
                    response = await http.get("/v1/kpis", params=params)
                    timings[name].append((time.perf_counter() - began) * 1000)
                    assert response.status_code == 200
    return timings


async def ensure_database(url: str) -> None:
    if url.startswith("postgresql"):
        name = url.rsplit("/", 1)[1]
        admin = await asyncpg.connect(url.replace("+asyncpg", "").rsplit("/", 1)[0] + "/postgres")
        try:
            if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
    await asyncio.to_thread(migrate.upgrade, url)


async def main_async(args: argparse.Namespace) -> None:
    end = datetime(2026, 12, 1, tzinfo=UTC)
    await ensure_database(args.database_url)
    engine = create_engine(args.database_url)
    await seed(create_sessions(engine), args.orders, end)
    await fill_rollup(engine)
    await engine.dispose()
    if args.seed_only:
        return
    for name, timings in (await measure(args.database_url, args.requests, end)).items():
        print(
            f"GET /v1/kpis, 30 days ({name}), {args.requests} requests: p50 {percentile(timings, 50):.0f} ms, "
            f"p95 {percentile(timings, 95):.0f} ms (nearest rank), max {max(timings):.0f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--seed-only", action="store_true")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
