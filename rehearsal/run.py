"""A rehearsal: start the stack, play the day, let it settle, score it, check it, write the report."""

import asyncio
import json
import shutil
import signal
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from temporalio.client import Client

from bench.load import wait_for_pollers
from bench.run import code_version
from bench.stack import PostgresDatabase, migrate_database
from domain.access import Role
from rehearsal.clock import Clock
from rehearsal.demand import BAD_LINE1, EAST, MAIN, Day, plan_day
from rehearsal.integrity import check
from rehearsal.options import Options, parse_args
from rehearsal.people import People
from rehearsal.play import Log, Subscriber, faults, feed, seed
from rehearsal.report import write
from rehearsal.score import score
from rehearsal.stack import QUEUE, RehearsalStack, day_settings
from store import keys
from store.db import create_engine, create_sessions
from store.tables import OrderRow

FINISHED = ("completed", "delivered", "cancelled")
# What the day's subscriber (an ERP, say) listens to: what left, what was called off, what needs a person.
SUBSCRIBED = ("order.shipped", "order.cancelled", "exception.opened")


async def handler_keys(url: str, count: int) -> dict[str, str]:
    engine = create_engine(url)
    try:
        async with create_sessions(engine).begin() as session:
            return {
                f"handler-{n}": (await keys.create(session, f"handler-{n}", Role.HANDLER))[1]
                for n in range(1, count + 1)
            }
    finally:
        await engine.dispose()


async def unsettled(db: AsyncEngine, day: Day) -> int:
    """Orders of the day not finished yet, those the read model does not show yet included."""
    async with db.connect() as c:
        finished = int((await c.execute(select(func.count()).where(OrderRow.status.in_(FINISHED)))).scalar_one())
    return len(day.orders) - finished


async def play(opts: Options, day: Day, root: Path, url: str) -> dict[str, Any]:
    stack = RehearsalStack(root, url, day_settings(opts.speed, [EAST]), opts.worker_entry)
    db = create_async_engine(url)
    clock = Clock(opts.speed)
    log = Log()
    subscriber = Subscriber()
    threading_server = asyncio.get_running_loop().run_in_executor(None, subscriber.serve_forever)
    try:
        print(f"starting the stack (logs under {stack.logs})", flush=True)
        await stack.start_temporal()
        await migrate_database(url, MAIN)
        await stack.authorize()
        secrets = await handler_keys(url, opts.handlers)
        await stack.start_tms()
        names = ["worker", *(f"worker {k}" for k in range(2, opts.workers + 1))]
        for name in names:
            stack.start_day_worker(name, relay=name == "worker")
        await stack.start_api("api", QUEUE)
        client = await Client.connect(stack.temporal_address)
        await wait_for_pollers(client, QUEUE, within=120)
        limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
        admin = httpx.AsyncClient(base_url=stack.api_url, headers=stack.headers, timeout=60, limits=limits)
        handlers = {
            name: httpx.AsyncClient(base_url=stack.api_url, headers={"Authorization": f"Bearer {secret}"}, timeout=60)
            for name, secret in secrets.items()
        }
        await seed(admin, day)
        hook = await admin.post("/v1/webhooks", json={"url": subscriber.url, "event_types": list(SUBSCRIBED)})
        hook.raise_for_status()
        # The carrier cannot find the street of the day's bad addresses, whichever parcel of the order it is.
        await stack.tms(
            "/_reject_address", {"line1": BAD_LINE1, "code": "address_rejected", "message": "street number not found"}
        )

        async def restart_worker() -> None:
            stack.kill("worker")
            await asyncio.sleep(3)
            stack.start_day_worker("worker", relay=True)
            await wait_for_pollers(client, QUEUE, within=120)

        carrier_up = asyncio.Event()
        carrier_up.set()
        people = People(day, clock, handlers, admin, db, carrier_up)
        print(
            f"the day opens: {len(day.orders)} orders over {opts.hours:g} h at {opts.speed:g}x "
            f"(about {opts.hours * 3600 / opts.speed / 60:.1f} min), faults: {', '.join(day.faults.on()) or 'none'}",
            flush=True,
        )
        clock.open()
        started = time.monotonic()
        working = asyncio.create_task(people.run())
        await asyncio.gather(
            feed(admin, day, clock, log),
            faults(stack, admin, day, clock, log, subscriber, carrier_up, restart_worker),
        )
        await clock.until(opts.hours * 3600)
        log.note(clock, "last arrivals in; waiting for orders to settle")
        drain_until = opts.hours * 3600 + opts.drain_hours * 3600
        while clock.now_s() < drain_until and await unsettled(db, day) > 0:  # noqa: ASYNC110 (polls the database)
            await asyncio.sleep(1)
        await asyncio.sleep(2)  # the last projections and alerts land
        log.note(clock, f"day closed, {await unsettled(db, day)} orders not finished")
        wall = time.monotonic() - started
        await people.stop()
        working.cancel()
        subscriber_figures = {
            "received": dict(subscriber.received),
            "refused_while_offline": subscriber.refused,
            "distinct_events": len(subscriber.events),
        }
        kpis = await score(db, admin, clock)
        integrity = await check(db, client, stack, day, clock, log, people, kpis, subscriber.events)
        for http in (admin, *handlers.values()):
            await http.aclose()
        return {
            "wall_seconds": round(wall, 1),
            "events": log.events,
            "answers": dict(log.answers),
            "webhooks": subscriber_figures,
            "people": {"touches": [t.__dict__ for t in people.touches], "picks": people.picks},
            "kpis": kpis,
            "integrity": integrity,
        }
    finally:
        subscriber.shutdown()
        await threading_server
        stack.stop_all()
        await db.dispose()


async def rehearse(opts: Options) -> tuple[dict[str, Any], Path]:
    day = plan_day(opts.seed, opts.orders, opts.hours, opts.faults)
    folder = opts.out / datetime.now().strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="orderflow-rehearsal-"))
    postgres = PostgresDatabase() if opts.postgres else None
    if postgres is not None:
        await postgres.create()
    url = postgres.url if postgres else f"sqlite+aiosqlite:///{root / 'orderflow.db'}"
    failed = True
    try:
        played = await play(opts, day, root, url)
        failed = False
    finally:
        if postgres is not None:
            await postgres.drop()
        if failed or opts.keep:
            print(f"logs and databases kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    results = {
        "started": datetime.now().astimezone().isoformat(timespec="seconds"),
        "code": code_version(),
        "database": "postgresql" if postgres else "sqlite",
        "options": {
            "orders": opts.orders,
            "hours": opts.hours,
            "speed": opts.speed,
            "seed": opts.seed,
            "workers": opts.workers,
            "handlers": opts.handlers,
            "faults": day.faults.on(),
        },
        "demand": demand_figures(day),
        **played,
    }
    return results, folder


def demand_figures(day: Day) -> dict[str, Any]:
    from collections import Counter

    faults = Counter(reason for o in day.orders if (reason := day.person_fault(o)))
    return {
        "orders": len(day.orders),
        "channels": dict(Counter(o.channel for o in day.orders)),
        "rush": sum(o.rush for o in day.orders),
        "multi_line": sum(len(o.lines) > 1 for o in day.orders),
        "resent": sum(o.resend_after_s is not None for o in day.orders),
        "imported": sum(o.imported for o in day.orders),
        "bad_addresses": sum(o.bad_address for o in day.orders),
        "short_with_inbound": sorted(day.catalogue.short_with_inbound),
        "short_no_inbound": sorted(day.catalogue.short_no_inbound),
        "east_only_skus": len(day.catalogue.east_only),
        "person_fault_orders": sum(faults.values()),
        "person_fault_by_reason": dict(faults),
        "person_fault_share": sum(faults.values()) / len(day.orders),
        "by_hour": dict(sorted(Counter(int(o.at_s // 3600) for o in day.orders).items())),
    }


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    opts = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    results, folder = asyncio.run(rehearse(opts))
    text = write(results, folder)
    print("\n" + text)
    print(f"report: {folder / 'report.md'}")
    (folder / "report.json").write_text(json.dumps(results, indent=2, default=str))
    sys.exit(0 if results["integrity"]["ok"] else 1)
