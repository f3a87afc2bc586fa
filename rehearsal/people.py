"""Simulated people: handlers working the exception queue through the API, warehouse staff confirming the
manual warehouse's pick lists. Their response times are drawn from the day's seed."""

import asyncio
import contextlib
import logging
import math
import random
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from rehearsal.clock import Clock
from rehearsal.demand import EAST, FIXED_LINE1, GOOD_ADDRESS, Day
from store.tables import PickList

log = logging.getLogger("rehearsal")
# Kinds a handler decides on. A late pick clears itself when the warehouse confirms, and a promise at risk is
# a warning the order's own progress answers: handlers leave both to the system (and to the ladder).
DECIDED = frozenset({"address_rejected", "stock_shortage", "step_failed", "order_invalid", "approval_overdue"})
PICK_SLA_S = 4 * 3600


def lognormal_s(rng: random.Random, median_s: float, p90_s: float) -> float:
    sigma = math.log(p90_s / median_s) / 1.2816
    return rng.lognormvariate(math.log(median_s), sigma)


@dataclass
class Touch:
    order_id: str
    exception_id: str
    kind: str
    action: str
    handler: str
    raised_s: float
    acted_s: float
    answer: int


@dataclass
class People:
    day: Day
    clock: Clock
    http: dict[str, httpx.AsyncClient]  # handler name -> client with that handler's key
    staff: httpx.AsyncClient
    db: AsyncEngine
    carrier_up: asyncio.Event  # set while the carrier answers
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    touches: list[Touch] = field(default_factory=list)
    picks: list[dict[str, Any]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    stopping: bool = False
    shipped_available: set[str] = field(default_factory=set)
    readdressed: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.day.seed * 7919)
        self.planned = {o.order_id: o for o in self.day.orders}

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run(self) -> None:
        await asyncio.gather(self._watch_queue(), self._watch_pick_lists())

    async def stop(self) -> None:
        self.stopping = True
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _watch_queue(self) -> None:
        handlers = sorted(self.http)
        any_client = self.http[handlers[0]]
        turn = 0
        while not self.stopping:
            with contextlib.suppress(httpx.HTTPError):
                cursor: str | None = None
                while True:
                    params: dict[str, str | int] = {"status": "open", "limit": 200}
                    if cursor:
                        params["cursor"] = cursor
                    page = (await any_client.get("/v1/exceptions", params=params)).json()
                    for item in page.get("items", []):
                        if item["exception_id"] in self.seen or item["kind"] not in DECIDED:
                            continue
                        self.seen.add(item["exception_id"])
                        handler = handlers[turn % len(handlers)]
                        turn += 1
                        self._spawn(self._handle(handler, item, self.clock.now_s()))
                    cursor = page.get("next_cursor")
                    if not cursor:
                        break
            await asyncio.sleep(0.5)

    async def _handle(self, handler: str, item: dict[str, Any], raised_s: float) -> None:
        # Most exceptions are looked at within a quarter of an hour; a few wait over an hour.
        await self.clock.wait(lognormal_s(self.rng, 12 * 60, 50 * 60))
        kind, order_id = item["kind"], item["order_id"]
        action, body = self._decide(item)
        if kind == "step_failed":  # retrying into an outage helps nobody: wait for the carrier
            await self.carrier_up.wait()
        path = f"/v1/orders/{order_id}/exceptions/{item['exception_id']}/resolve"
        request = {"action": action, **body}
        if action == "cancel_remainder":  # the order's own control: closes the shortage with the remainder
            path = f"/v1/orders/{order_id}/cancel-remainder"
            request = {"reason": "nothing coming for the rest: shipped what we had"}
        elif action == "ship_available":
            self.shipped_available.add(order_id)
        elif action == "change_address":
            self.readdressed.add(order_id)
        answer = 0
        for attempt in range(8):  # the order did not answer in time: try again a little later, as a person would
            try:
                answer = (await self.http[handler].post(path, json=request)).status_code
            except httpx.HTTPError:
                answer = 0
            if answer not in (0, 500, 502, 503, 504):
                break
            await asyncio.sleep(2 * (attempt + 1))
        self.touches.append(
            Touch(order_id, item["exception_id"], kind, action, handler, raised_s, self.clock.now_s(), answer)
        )

    def _decide(self, item: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """What a sensible handler does: fix the address, ship what is there, retry once the cause is gone."""
        kind, allowed = item["kind"], item["allowed_actions"]
        order = self.planned.get(item["order_id"])
        if kind == "address_rejected" and item["order_id"] in self.readdressed and "retry" in allowed:
            return "retry", {"note": "the address is corrected already"}  # another parcel of the same order
        if kind == "address_rejected" and "change_address" in allowed:
            fixed = {**GOOD_ADDRESS, "line1": FIXED_LINE1}
            return "change_address", {"ship_to": fixed, "note": "street number confirmed with the customer"}
        if kind == "stock_shortage":
            coming = order is not None and bool(set(order.lines) & self.day.catalogue.short_with_inbound)
            if coming:
                return "retry", {"note": "inbound is due"}
            available = order is None or bool(set(order.lines) - self.day.catalogue.short_no_inbound)
            if available and item["order_id"] in self.shipped_available:
                return "cancel_remainder", {}  # what was there has gone; the rest is not coming
            if available and "ship_available" in allowed:
                return "ship_available", {"note": "no stock coming: ship what we have"}
            return "cancel", {"note": "no stock coming for anything on the order"}
        return ("retry", {"note": "the cause is gone"}) if "retry" in allowed else (allowed[0], {})

    async def _watch_pick_lists(self) -> None:
        staff = 0
        while not self.stopping:
            with contextlib.suppress(Exception):
                async with self.db.connect() as c:
                    rows = await c.execute(
                        select(PickList.pick_list_id, PickList.order_id).where(
                            PickList.warehouse == EAST, PickList.state == "open"
                        )
                    )
                for pick_list_id, order_id in rows.all():
                    if pick_list_id in self.seen:
                        continue
                    self.seen.add(pick_list_id)
                    staff += 1
                    self._spawn(self._pick(pick_list_id, order_id, f"east-picker-{staff % 4 + 1}"))
            await asyncio.sleep(0.5)

    async def _pick(self, pick_list_id: str, order_id: str, picker: str) -> None:
        slow = self.day.faults.slow_pickers and self.rng.random() < 0.08
        # A slow picker goes past the 4 h pick SLA; the others pick within the hour or two.
        took = self.rng.uniform(1.1, 1.5) * PICK_SLA_S if slow else lognormal_s(self.rng, 40 * 60, 100 * 60)
        took = took if slow else min(took, 0.8 * PICK_SLA_S)
        started = self.clock.now_s()
        await self.clock.wait(took)
        answer = 0
        for _ in range(5):
            try:
                response = await self.staff.post(
                    f"/v1/pick-lists/{pick_list_id}/confirm", json={"confirmed_by": picker}
                )
                answer = response.status_code
            except httpx.HTTPError:
                answer = 0
            if answer not in (0, 500, 502, 503, 504):
                break
            await asyncio.sleep(1)
        self.picks.append(
            {
                "pick_list_id": pick_list_id,
                "order_id": order_id,
                "slow": slow,
                "took_s": took,
                "started_s": started,
                "answer": answer,
            }
        )
