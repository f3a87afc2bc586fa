"""Allocation: plan where each line ships from, then reserve it atomically; record what waits."""

from dataclasses import asdict
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from domain.allocation import FulfilmentPolicy, plan
from domain.inbound_eta import ExpectedInbound, InboundFor
from domain.orders import OrderStatus, TimelineEntry
from domain.steps import (
    Allocation,
    KeyedEntry,
    ProjectOrder,
    ReserveStock,
    StockLine,
    StockReserved,
    WaitingOrders,
    describe_missing,
)
from store import fulfilment, inventory, orders, step_results
from store import inbound as inbound_store
from store.inventory import Hold
from store.sql import utcnow

log = structlog.get_logger(__name__)

# Stock can move between the snapshot and the reservation; plan again this many times before waiting.
PLAN_ATTEMPTS = 5


def allocation_number(allocation_id: str) -> int:
    return int(allocation_id.rsplit(".", 1)[1])


def recorded_as(result: StockReserved) -> dict[str, Any]:
    """An allocation attempt's result as its step result row keeps it."""
    return asdict(result)


def reserved_from(recorded: dict[str, Any]) -> StockReserved:
    def lines(found: list[dict[str, Any]]) -> list[StockLine]:
        return [StockLine(line["sku"], int(line["quantity"])) for line in found]

    return StockReserved(
        [
            Allocation(a["allocation_id"], a["warehouse"], lines(a["lines"]), a.get("reason", ""))
            for a in recorded["allocations"]
        ],
        lines(recorded["backordered"]),
        recorded.get("reason", ""),
    )


class InventoryActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @activity.defn(name="reserve_stock")
    async def reserve_stock(self, req: ReserveStock) -> StockReserved:
        """Plan from a stock snapshot, reserve the plan all at once, and record what is backordered.

        The order's status follows: allocated when something was reserved, backordered when nothing was.
        """
        policy = FulfilmentPolicy(
            allow_split=req.allow_split,
            allow_partial=req.allow_partial,
            route=tuple(req.route),
            route_only=req.route_only,
            optional=frozenset(req.optional),
        )
        step = f"reserve:{req.attempt}"
        with structlog.contextvars.bound_contextvars(order_id=req.order_id):
            for _ in range(PLAN_ATTEMPTS):
                result = None
                async with self._sessions.begin() as s:
                    # A run of this attempt again (a workflow task handed out again replays its local
                    # steps) answers what the first run answered: stock, reservations and backorders may
                    # have moved on since, by this order's own later steps too (its goods shipped).
                    earlier = await step_results.recorded(s, req.order_id, step)
                    if earlier is not None:
                        log.info("allocated earlier", attempt=req.attempt)
                        return reserved_from(earlier)
                    if req.replaces:
                        await fulfilment.cancel_pick_lists(s, req.replaces_pick_lists)
                        await inventory.release_allocations(s, req.replaces, "order edited")
                    sites, stock = await inventory.snapshot(s, [line.sku for line in req.lines])
                    planned = plan(req.lines, req.ship_to, sites, stock, policy)
                    allocations = [
                        Allocation(f"{req.order_id}.{req.first_allocation + i}", p.warehouse, p.lines, p.reason)
                        for i, p in enumerate(planned.shipments)
                    ]
                    held = await inventory.reserve(
                        s, req.order_id, [Hold(a.allocation_id, a.warehouse, a.lines) for a in allocations]
                    )
                    if held:
                        result = StockReserved(allocations, planned.backordered, planned.reason)
                        # The result row serializes two runs of one attempt that reserve nothing (a
                        # backorder), as the reservation rows serialize those that do.
                        if not await step_results.record(s, req.order_id, step, recorded_as(result)):
                            result, held = None, None
                    if result is not None:
                        await inventory.set_backorders(s, req.order_id, planned.backordered, req.rush, req.received_at)
                        reserved = sum(line.quantity for a in allocations for line in a.lines)
                        await orders.project(s, self._projection(req, result), units_reserved=reserved)
                    else:
                        # Nothing of this attempt stays (it only read before reserving): no savepoint needed.
                        await s.rollback()
                if result is not None:
                    log.info("allocated", plan=planned.reason, backordered=describe_missing(planned.backordered))
                    return result
                if held is None:  # an earlier run of this step reserved already: report what it did
                    async with self._sessions() as s:
                        earlier = await step_results.recorded(s, req.order_id, step)
                        if earlier is not None:
                            return reserved_from(earlier)
                        return await self._already_reserved(s, req)  # that run recorded no result (older code)
                # held is False: stock moved under us, plan again
            raise RuntimeError("stock kept moving while allocating; retrying")

    @activity.defn(name="waiting_orders")
    async def waiting_orders(self, req: WaitingOrders) -> list[str]:
        """Orders backordered on any of these SKUs, rush first, then oldest."""
        async with self._sessions() as s:
            return await inventory.waiting_for(s, req.skus)

    @activity.defn(name="expected_inbound")
    async def expected_inbound(self, req: InboundFor) -> list[ExpectedInbound]:
        """Open inbound still to come for these SKUs, soonest first (a backordered order's outlook)."""
        async with self._sessions() as s:
            return await inbound_store.expected_for(s, req.skus)

    async def _already_reserved(self, s: AsyncSession, req: ReserveStock) -> StockReserved:
        # Everything from this attempt on, however many shipments that earlier run planned.
        found = [
            h
            for h in await inventory.holds_of(s, req.order_id)
            if allocation_number(h.allocation_id) >= req.first_allocation
        ]
        held = {line.sku: 0 for line in req.lines}
        for hold in found:
            for line in hold.lines:
                held[line.sku] += line.quantity
        rest = [StockLine(line.sku, line.quantity - held[line.sku]) for line in req.lines]
        return StockReserved(
            [Allocation(h.allocation_id, h.warehouse, h.lines) for h in found],
            [line for line in rest if line.quantity > 0 and line.sku not in req.optional],  # gifts never wait
            "reserved earlier",
        )

    @staticmethod
    def _projection(req: ReserveStock, result: StockReserved) -> ProjectOrder:
        now = utcnow()
        key = f"allocation:{req.attempt}"
        if not result.allocations:
            missing = describe_missing(result.backordered)
            entry = TimelineEntry(
                now, OrderStatus.BACKORDERED, "backordered", f"waiting for {missing}: {result.reason}"
            )
            return ProjectOrder(req.order_id, OrderStatus.BACKORDERED, [KeyedEntry(key, entry)], seq=req.seq)
        where = ", ".join(f"{a.allocation_id} from {a.warehouse}" for a in result.allocations)
        detail = f"{where}: {result.reason}"
        if result.backordered:
            detail += f"; waiting for {describe_missing(result.backordered)}"
        entry = TimelineEntry(now, OrderStatus.ALLOCATED, "allocated", detail)
        return ProjectOrder(req.order_id, OrderStatus.ALLOCATED, [KeyedEntry(key, entry)], seq=req.seq)
