"""The day's events on the clock: orders arriving (and resent), the sales desk's spreadsheet, inbound stock,
the carrier going down, the webhook subscriber going offline, a worker killed and started again."""

import asyncio
import contextlib
import csv
import io
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from rehearsal.clock import Clock
from rehearsal.demand import EAST, MAIN, Day, PlannedOrder
from rehearsal.stack import RehearsalStack

HOUR = 3600.0


@dataclass
class Timeline:
    """When each fault happens, in simulated seconds after the opening, scaled to the day's length."""

    hours: float

    def at(self, fraction: float) -> float:
        return self.hours * HOUR * fraction

    @property
    def inbound_arrives(self) -> float:
        return self.at(0.25)

    @property
    def carrier_down(self) -> tuple[float, float]:
        return self.at(0.42), self.at(0.42) + min(1.5 * HOUR, self.at(0.12))

    @property
    def webhook_offline(self) -> tuple[float, float]:
        return self.at(0.15), self.at(0.15) + min(2 * HOUR, self.at(0.16))

    @property
    def worker_killed(self) -> float:
        return self.at(0.55)


@dataclass
class Log:
    events: list[dict[str, Any]] = field(default_factory=list)
    answers: Counter[str] = field(default_factory=Counter)
    accepted: dict[str, int] = field(default_factory=dict)  # order id -> first answer's status

    def note(self, clock: Clock, what: str, **detail: Any) -> None:
        self.events.append({"at": clock.label(clock.now_s()), "sim_s": round(clock.now_s()), "what": what, **detail})
        print(f"  {clock.label(clock.now_s())}  {what}", flush=True)


async def submit(http: httpx.AsyncClient, order: PlannedOrder, log: Log, resend: bool) -> None:
    for _ in range(10):  # a channel retries a request that got no answer: the resubmission check keeps one order
        try:
            status = (await http.post("/v1/orders", json=order.body())).status_code
        except httpx.HTTPError:
            status = 0
        if status not in (0, 502, 503, 504):
            break
        await asyncio.sleep(1)
    log.answers[f"{'resend' if resend else 'submit'} {status}"] += 1
    if not resend:
        log.accepted[order.order_id] = status


async def feed(http: httpx.AsyncClient, day: Day, clock: Clock, log: Log) -> None:
    """Every live order at its time, its resend later; the spreadsheet when the sales desk sends it."""
    pending: set[asyncio.Task[None]] = set()
    live = [o for o in day.orders if not o.imported]
    imported = [o for o in day.orders if o.imported]
    events: list[tuple[float, str, PlannedOrder | None]] = [(o.at_s, "submit", o) for o in live]
    events += [(o.at_s + o.resend_after_s, "resend", o) for o in live if o.resend_after_s is not None]
    if imported:
        events.append((imported[0].at_s, "import", None))
    for at, what, order in sorted(events, key=lambda e: e[0]):
        await clock.until(at)
        if what == "import":
            task = asyncio.create_task(import_sheet(http, imported, clock, log))
        else:
            assert order is not None
            task = asyncio.create_task(submit(http, order, log, resend=what == "resend"))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)


def sheet(orders: list[PlannedOrder]) -> bytes:
    out = io.StringIO()
    columns = ["channel", "external_id", "customer_id", "customer_name", "customer_email", "ship_to_name"]
    columns += ["ship_to_line1", "ship_to_city", "ship_to_postal_code", "ship_to_country", "currency", "priority"]
    columns += ["sku", "quantity", "unit_price"]
    writer = csv.writer(out)
    writer.writerow(columns)
    for order in orders:
        body: dict[str, Any] = order.body()
        to, customer = body["ship_to"], body["customer"]
        head = [order.channel, order.external_id, customer["id"], customer["name"], customer["email"], to["name"]]
        head += [to["line1"], to["city"], to["postal_code"], to["country"], "CNY", body["priority"]]
        for line in body["lines"]:
            writer.writerow([*head, line["sku"], line["quantity"], line["unit_price"]])
    return out.getvalue().encode()


async def import_sheet(http: httpx.AsyncClient, orders: list[PlannedOrder], clock: Clock, log: Log) -> None:
    files = {"file": ("sales-desk.csv", io.BytesIO(sheet(orders)), "text/csv")}
    response = await http.post("/v1/orders/import", files=files, params={"wait": 20})
    log.answers[f"import {response.status_code}"] += 1
    summary = response.json()
    log.note(
        clock,
        f"sales desk imported {len(orders)} orders from a spreadsheet",
        answer=response.status_code,
        result={k: summary.get(k) for k in ("status", "orders", "created", "invalid") if k in summary},
    )
    for order in orders:
        log.accepted[order.order_id] = response.status_code


class Subscriber(ThreadingHTTPServer):
    """A webhook receiver that can go offline (answers 503) and counts what reached it."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Receiver)
        self.online = True
        self.lock = threading.Lock()
        self.received: Counter[str] = Counter()
        self.refused = 0
        self.events: set[str] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks"


class _Receiver(BaseHTTPRequestHandler):
    server: Subscriber

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            if not self.server.online:
                self.server.refused += 1
                status = 503
            else:
                with contextlib.suppress(ValueError):
                    event = json.loads(raw)
                    self.server.received[str(event.get("type", "?"))] += 1
                    self.server.events.add(str(event.get("id", "")))
                status = 204
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


async def faults(
    stack: RehearsalStack,
    http: httpx.AsyncClient,
    day: Day,
    clock: Clock,
    log: Log,
    subscriber: Subscriber,
    carrier_up: asyncio.Event,
    restart_worker: Any,
) -> None:
    """The day's faults in the order they happen."""
    plan = Timeline(day.hours)
    steps: list[tuple[float, str]] = []
    if day.catalogue.short_with_inbound:
        steps.append((plan.inbound_arrives, "inbound"))
    if day.faults.carrier_outage:
        steps += [(plan.carrier_down[0], "carrier down"), (plan.carrier_down[1], "carrier back")]
    if day.faults.webhook_offline:
        steps += [(plan.webhook_offline[0], "subscriber offline"), (plan.webhook_offline[1], "subscriber online")]
    if day.faults.worker_kill:
        steps.append((plan.worker_killed, "kill worker"))
    inbound_ids = await expect_inbound(http, day, clock, plan) if day.catalogue.short_with_inbound else {}
    for at, what in sorted(steps):
        await clock.until(at)
        if what == "inbound":
            await receive_inbound(http, day, inbound_ids)
            log.note(clock, f"inbound received for {', '.join(sorted(day.catalogue.short_with_inbound))}")
        elif what in ("carrier down", "carrier back"):
            down = what == "carrier down"
            await stack.tms("/_outage", {"system": "tms", "down": down})
            (carrier_up.clear if down else carrier_up.set)()
            log.note(clock, "carrier (external TMS) down" if down else "carrier back")
        elif what in ("subscriber offline", "subscriber online"):
            with subscriber.lock:
                subscriber.online = what == "subscriber online"
            log.note(clock, f"webhook subscriber {'back online' if subscriber.online else 'offline'}")
        elif what == "kill worker":
            log.note(clock, "worker killed (SIGKILL)")
            await restart_worker()
            log.note(clock, "worker started again")


async def expect_inbound(http: httpx.AsyncClient, day: Day, clock: Clock, plan: Timeline) -> dict[str, str]:
    """Purchasing books the inbound at the opening: the short SKUs are due mid-morning."""
    expected = datetime.now(UTC) + timedelta(seconds=clock.real_s(plan.inbound_arrives))
    ids: dict[str, str] = {}
    for sku in sorted(day.catalogue.short_with_inbound):
        body = {
            "reference": f"PO-{day.seed}-{sku}",
            "warehouse": MAIN,
            "expected_at": expected.isoformat(),
            "lines": [{"sku": sku, "quantity": 10 * len(day.orders)}],
        }
        response = await http.post("/v1/inbound", json=body)
        response.raise_for_status()
        ids[sku] = response.json()["inbound_id"]
    return ids


async def receive_inbound(http: httpx.AsyncClient, day: Day, ids: dict[str, str]) -> None:
    for sku, inbound_id in ids.items():
        body = {
            "warehouse": MAIN,
            "reference": f"ASN-{day.seed}-{sku}",
            "inbound_id": inbound_id,
            "lines": [{"sku": sku, "quantity": 10 * len(day.orders)}],
        }
        (await http.post("/v1/inventory/receipts", json=body)).raise_for_status()


async def seed(http: httpx.AsyncClient, day: Day) -> None:
    """The catalogue, the manual warehouse and the opening stock, through the API as a person sets them up."""
    (await http.put(f"/v1/warehouses/{EAST}", json={"name": "East (manual)", "country": "CN"})).raise_for_status()
    for sku in day.catalogue.skus:
        (await http.put(f"/v1/products/{sku}", json={"name": sku, "unit_price": "10.00"})).raise_for_status()
    for warehouse, stock in day.catalogue.stock.items():
        for sku, on_hand in stock.items():
            for _ in range(50):  # the API commits after answering: the product may not be visible yet
                response = await http.put(f"/v1/inventory/{warehouse}/{sku}", json={"on_hand": on_hand})
                if response.status_code != 404:
                    break
                await asyncio.sleep(0.05)
            response.raise_for_status()
