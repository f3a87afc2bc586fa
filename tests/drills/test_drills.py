"""Fault drills: kill the worker, restart the server, take the database away — nothing is lost and
nothing happens twice. Real processes, real SIGKILLs, bounded in time."""

import asyncio
import contextlib
import json
import random
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

from config import Settings, WarehouseMode
from domain.access import Role
from domain.contract import Query, WorkflowType, order_id_of, order_workflow_id
from domain.orders import Address, Customer, Order, OrderLine, OrderStatus
from domain.policy import NewOrder
from domain.steps import OrderView
from store import migrate
from store.db import create_engine, create_sessions
from store.tables import Invoice, OrderRow, PickList, Reservation, Shipment, Stock
from tests.conftest import bearer, make_key, order_body, stock_up, unique
from tests.drills.stack import Processes

pytestmark = pytest.mark.drill

SKUS = ("DRILL-A", "DRILL-B")


def order(n: int) -> Order:
    return Order(
        channel="drill",
        external_id=f"{unique('D')}-{n}",
        customer=Customer("C-1", "Li Wei", "li.wei@example.com"),
        ship_to=Address("Li Wei", "88 Century Ave", "Shanghai", "200120", "CN"),
        lines=[OrderLine(sku, 1, 1000) for sku in SKUS],
        currency="CNY",
    )


@pytest.fixture
async def sqlite_drill(tmp_path: Path) -> AsyncIterator[tuple[str, async_sessionmaker[AsyncSession]]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'orderflow.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    engine = create_engine(url)
    sessions = create_sessions(engine)
    await stock_up(sessions, dict.fromkeys(SKUS, 1000))
    yield url, sessions
    await engine.dispose()


async def connect(procs: Processes) -> Client:
    deadline = time.monotonic() + 60
    while True:
        try:
            return await Client.connect(procs.address)
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def up(procs: Processes) -> Client:
    """A Temporal server and one worker, ready."""
    procs.start("temporal")
    client = await connect(procs)
    procs.start("worker")
    return client


async def submit(client: Client, procs: Processes, count: int) -> list[WorkflowHandle[Any, OrderView]]:
    settings = Settings(task_queue=procs.env["ORDERFLOW_TASK_QUEUE"])
    handles = []
    for n in range(count):
        new = order(n)
        handles.append(
            await client.start_workflow(
                WorkflowType.ORDER,
                NewOrder(new, settings.order_policy(new, datetime.now(UTC))),
                id=order_workflow_id(new.order_id),
                task_queue=settings.task_queue,
                result_type=OrderView,
            )
        )
    return handles


async def all_complete(handles: list[WorkflowHandle[Any, OrderView]], within: float) -> list[OrderView]:
    """Until every order is `completed` (their workflows then stay open for delivery reports)."""

    async def completed(handle: WorkflowHandle[Any, OrderView]) -> OrderView:
        while True:
            try:
                view: OrderView = await handle.query(
                    Query.VIEW, result_type=OrderView, rpc_timeout=timedelta(seconds=5)
                )
                if view.status is OrderStatus.COMPLETED:
                    return view
            except RPCError:
                pass  # no answer yet: the order's workflow task is still being redone after the outage
            await asyncio.sleep(0.2)

    views = await asyncio.wait_for(asyncio.gather(*(completed(h) for h in handles)), timeout=within)
    assert [v.status for v in views] == [OrderStatus.COMPLETED] * len(handles)
    return views


async def assert_each_done_once(sessions: async_sessionmaker[AsyncSession], order_ids: list[str], start: int) -> None:
    """One reservation per line, one pick list, one shipment, one invoice per order; stock moved once."""
    async with sessions() as s:
        for table, expected in ((Reservation, len(SKUS)), (PickList, 1), (Shipment, 1), (Invoice, 1), (OrderRow, 1)):
            rows = await s.execute(
                select(table.order_id, func.count()).where(table.order_id.in_(order_ids)).group_by(table.order_id)
            )
            counts = dict(rows.all())
            assert counts == dict.fromkeys(order_ids, expected), table.__tablename__
        for sku in SKUS:
            stock = await s.get(Stock, ("MAIN", sku))
            assert stock is not None
            assert (stock.on_hand, stock.reserved) == (start - len(order_ids), 0), sku


def steps_run_again(procs: Processes) -> int:
    """Steps that a worker started more than once for the same order: cut off by a kill and run again by
    the next worker. Steps are local activities, so the history holds only the run that counted; the
    workers' logs (at debug level, worker.StepLog) hold every start."""
    runs: Counter[tuple[str, str]] = Counter()
    for line in (procs.tmp / "worker.log").read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and entry.get("event") == "step started":
                runs[entry["workflow_id"], entry["step"]] += 1
    return sum(1 for n in runs.values() if n > 1)


async def test_worker_killed_twice_mid_flight_loses_nothing_and_does_nothing_twice(
    tmp_path: Path, sqlite_drill: tuple[str, async_sessionmaker[AsyncSession]]
) -> None:
    url, sessions = sqlite_drill
    procs = Processes(
        tmp_path,
        url,
        ORDERFLOW_WAREHOUSE_MODE=WarehouseMode.AUTO.value,
        ORDERFLOW_AUTO_PICK_DELAY_SECONDS="1",
        ORDERFLOW_LOG_LEVEL="debug",  # a line per step started: the proof that steps ran again
    )
    try:
        client = await up(procs)
        handles = await submit(client, procs, 100)
        kills = 0
        # Kill at random moments until a step was provably cut off mid-run and retried (at least twice).
        while kills < 2 or (kills < 6 and steps_run_again(procs) == 0):
            await asyncio.sleep(random.uniform(0.2, 1.5))
            procs.kill("worker")
            kills += 1
            procs.start("worker")
            await asyncio.sleep(random.uniform(0.5, 2))
        await all_complete(handles, within=240)
        assert steps_run_again(procs) > 0, "no step ran twice: the drill proved nothing"
        await assert_each_done_once(sessions, [order_id_of(h.id) for h in handles], start=1000)
    finally:
        procs.stop_all()


async def test_temporal_server_restarted_mid_flight_loses_nothing(
    tmp_path: Path, sqlite_drill: tuple[str, async_sessionmaker[AsyncSession]]
) -> None:
    url, sessions = sqlite_drill
    procs = Processes(
        tmp_path, url, ORDERFLOW_WAREHOUSE_MODE=WarehouseMode.AUTO.value, ORDERFLOW_AUTO_PICK_DELAY_SECONDS="2"
    )
    try:
        client = await up(procs)
        handles = await submit(client, procs, 50)
        await asyncio.sleep(1)
        procs.kill("temporal")  # SIGKILL: what WAL plus synchronous=normal must survive
        await asyncio.sleep(2)
        procs.start("temporal")
        client = await connect(procs)
        handles = [client.get_workflow_handle(h.id, result_type=OrderView) for h in handles]
        await all_complete(handles, within=240)
        await assert_each_done_once(sessions, [order_id_of(h.id) for h in handles], start=1000)
    finally:
        procs.stop_all()


def postgres(action: str) -> None:
    cluster = subprocess.run(["ls", "/etc/postgresql"], capture_output=True, text=True, check=True).stdout.split()[0]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", action], check=True, timeout=60)
    if action == "start":
        for _ in range(60):
            if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"]).returncode == 0:
                return
            time.sleep(0.5)
        raise AssertionError("PostgreSQL did not come back")


async def test_database_outage_is_ridden_out_by_retries(tmp_path: Path, postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    sessions = create_sessions(engine)
    skus_start = 1000
    await stock_up(sessions, dict.fromkeys(SKUS, skus_start))
    async with sessions() as s:  # orders from other tests in this database don't count
        before = {sku: (await s.get(Stock, ("MAIN", sku))) for sku in SKUS}
        start = min(stock.on_hand for stock in before.values() if stock)
    procs = Processes(
        tmp_path, postgres_url, ORDERFLOW_WAREHOUSE_MODE=WarehouseMode.AUTO.value, ORDERFLOW_AUTO_PICK_DELAY_SECONDS="1"
    )
    try:
        client = await up(procs)
        handles = await submit(client, procs, 30)
        await asyncio.sleep(0.5)
        postgres("stop")
        try:
            await asyncio.sleep(10)
        finally:
            postgres("start")
        await all_complete(handles, within=240)
        await engine.dispose()  # its pooled connections died with the server
        await assert_each_done_once(sessions, [order_id_of(h.id) for h in handles], start=start)
    finally:
        procs.stop_all()
        await engine.dispose()


async def test_api_killed_mid_submit_then_retried_makes_one_order(
    tmp_path: Path, sqlite_drill: tuple[str, async_sessionmaker[AsyncSession]]
) -> None:
    """The client does not know whether its submission landed; it sends it again to a fresh API."""
    url, sessions = sqlite_drill
    key = bearer(await make_key(sessions, Role.ADMIN))
    procs = Processes(tmp_path, url, ORDERFLOW_WAREHOUSE_MODE=WarehouseMode.AUTO.value)
    bodies = [order_body(dict.fromkeys(SKUS, 1), channel="drill") for _ in range(8)]
    try:
        client = await up(procs)
        for body in bodies:
            procs.start("api")
            async with httpx.AsyncClient(base_url=procs.api, headers=key, timeout=10) as http:
                sending = asyncio.create_task(http.post("/v1/orders", json=body))
                await asyncio.sleep(random.uniform(0, 0.05))
                procs.kill("api")  # mid-submit: before, during or after the workflow start
                with contextlib.suppress(httpx.HTTPError):
                    await sending
            procs.start("api")
            async with httpx.AsyncClient(base_url=procs.api, headers=key, timeout=10) as http:
                retried = await http.post("/v1/orders", json=body)
            assert retried.status_code in (200, 201), retried.text
            procs.kill("api")
        order_ids = [f"drill-{body['external_id']}" for body in bodies]
        handles = [client.get_workflow_handle(order_workflow_id(o), result_type=OrderView) for o in order_ids]
        await all_complete(handles, within=120)
        await assert_each_done_once(sessions, order_ids, start=1000)
    finally:
        procs.stop_all()
