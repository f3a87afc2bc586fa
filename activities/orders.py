"""Recording orders, projecting what the workflow decides into the read model, and cancelling."""

import asyncio
from dataclasses import asdict, replace

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.warehouse import ExternalWarehouse
from domain.money import format_minor
from domain.orders import OrderStatus, TimelineEntry, invalid_skus, validate
from domain.steps import (
    CancelOrder,
    ConfirmOrder,
    KeyedEntry,
    OrderCancelled,
    OrderConfirmed,
    OutsideUpdate,
    ProjectOrder,
    ReleaseRemainder,
    StockLine,
)
from store import audit, catalog, fulfilment, inventory, orders, step_results
from store import rules as rule_store
from store.sql import utcnow

log = structlog.get_logger(__name__)


class OrderActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], wms: ExternalWarehouse | None = None) -> None:
        self._sessions = sessions
        self._wms = wms

    @activity.defn(name="confirm_order")
    async def confirm_order(self, req: ConfirmOrder) -> OrderConfirmed:
        """Record the order and check it against the catalog. Invalid fields go back to the workflow, which
        opens the exception; a valid order is recorded as confirmed."""
        order = req.order
        step = f"confirm:{req.seq}"
        with structlog.contextvars.bound_contextvars(order_id=order.order_id):
            async with self._sessions.begin() as s:
                known = await catalog.products_by_sku(s, [line.sku for line in order.lines])
                invalid_fields = validate(order) + invalid_skus(order, {sku: p.active for sku, p in known.items()})
                status = OrderStatus.RECEIVED if invalid_fields else OrderStatus.CONFIRMED
                recorded = await orders.record_new(s, order, status, req.received_at, req.ship_by, req.seq)
                entries = [
                    KeyedEntry(
                        "received", TimelineEntry(req.received_at, OrderStatus.RECEIVED, "received", order.summary())
                    )
                ]
                if req.rules:
                    await rule_store.record_firings(s, order.order_id, req.rules, req.received_at)
                    summary = "; ".join(firing.summary() for firing in req.rules)
                    entries.append(
                        KeyedEntry("rules", TimelineEntry(req.received_at, OrderStatus.RECEIVED, "rules", summary))
                    )
                if not invalid_fields:
                    total = f"total {format_minor(order.total, order.currency)} {order.currency}"
                    entries.append(
                        KeyedEntry("confirmed", TimelineEntry(utcnow(), OrderStatus.CONFIRMED, "confirmed", total))
                    )
                await orders.project(
                    s, ProjectOrder(order.order_id, status, entries, seq=req.seq), status_recorded=recorded
                )
                confirmed = OrderConfirmed(problems=[str(p) for p in invalid_fields])
                first = await step_results.record(s, order.order_id, step, asdict(confirmed))
                if not first:
                    await s.rollback()
            if not first:
                # A run again answers as the first did, whatever the catalog says now; it writes nothing.
                async with self._sessions() as s:
                    earlier = await step_results.recorded(s, order.order_id, step)
                assert earlier is not None
                return OrderConfirmed(problems=list(earlier["problems"]))
            log.info("order checked", invalid=confirmed.problems, total=order.total)
            return confirmed

    @activity.defn(name="project_order")
    async def project_order(self, change: ProjectOrder) -> None:
        with structlog.contextvars.bound_contextvars(order_id=change.order_id):
            async with self._sessions.begin() as s:
                await orders.project(s, change)
            log.info("projected", status=change.status.value, events=[e.entry.event for e in change.entries])

    @activity.defn(name="audit_outside_update")
    async def audit_outside_update(self, req: OutsideUpdate) -> None:
        """The audit row the API would have written, for an update sent straight to the workflow: no
        key, no role, the actor as the sender stated it (marked `temporal:`, since nothing checked it)."""
        entry = audit.Request(
            request_id=req.update_id,
            key_id=None,
            actor=f"temporal:{req.actor}",
            role=None,
            method="UPDATE",
            path=f"temporal:{req.update}",
            order_id=req.order_id,
            status=200,
        )
        async with self._sessions.begin() as s:
            written = await audit.record_once(s, entry)
        log.warning(
            "update sent outside the API", order_id=req.order_id, update=req.update, actor=req.actor, recorded=written
        )

    @activity.defn(name="cancel_order")
    async def cancel_order(self, req: CancelOrder) -> OrderCancelled:
        """Compensate in reverse order of doing: cancel the open pick list, then release the stock."""
        step = f"cancel:{req.projection.seq}"
        with structlog.contextvars.bound_contextvars(order_id=req.order_id):
            earlier = await self._earlier(req.order_id, step)
            if earlier is not None:
                return earlier
            if self._wms is not None:
                async with self._sessions() as s:
                    open_lists = await fulfilment.open_pick_lists(s, req.order_id)
                refusals = await self._stop_external_picking(self._wms, req.order_id, req.reason, open_lists)
                if refusals:
                    entries = [*req.projection.entries, *refusals]
                    req = replace(req, projection=replace(req.projection, entries=entries))
            async with self._sessions.begin() as s:
                pick_lists = await fulfilment.cancel_open_pick_lists(s, req.order_id)
                await inventory.set_backorders(s, req.order_id, [], rush=False, since_at=utcnow())
                released = await inventory.release(s, req.order_id, f"order cancelled: {req.reason}")
                await orders.project(s, req.projection)
                done = OrderCancelled(released=released, pick_lists_cancelled=pick_lists)
                await step_results.record(s, req.order_id, step, asdict(done))
            log.info("order cancelled", released=len(released), pick_lists=pick_lists, reason=req.reason)
            return done

    @activity.defn(name="release_remainder")
    async def release_remainder(self, req: ReleaseRemainder) -> OrderCancelled:
        """The part of a shipped order that has not left: its pick lists close, its stock goes back, its
        backorders end. Keyed by allocation, so a retry finds nothing left to release."""
        step = f"release:{req.projection.seq}"
        with structlog.contextvars.bound_contextvars(order_id=req.order_id):
            # Run again after the order moved on, it must not end backorders a later allocation recorded.
            earlier = await self._earlier(req.order_id, step)
            if earlier is not None:
                return earlier
            projection = req.projection
            if self._wms is not None:
                async with self._sessions() as s:
                    still_open = set(await fulfilment.open_pick_lists(s, req.order_id))
                open_lists = [p for p in req.pick_list_ids if p in still_open]
                refusals = await self._stop_external_picking(self._wms, req.order_id, req.reason, open_lists)
                projection = replace(projection, entries=[*projection.entries, *refusals])
            async with self._sessions.begin() as s:
                pick_lists = await fulfilment.cancel_pick_lists(s, req.pick_list_ids)
                await inventory.set_backorders(s, req.order_id, [], rush=False, since_at=utcnow())
                released = await inventory.release_allocations(
                    s, req.allocation_ids, f"remainder cancelled: {req.reason}"
                )
                await orders.project(s, projection)
                done = OrderCancelled(released=released, pick_lists_cancelled=pick_lists)
                await step_results.record(s, req.order_id, step, asdict(done))
            log.info("remainder cancelled", released=len(released), pick_lists=pick_lists, reason=req.reason)
            return done

    async def _earlier(self, order_id: str, step: str) -> OrderCancelled | None:
        """What an earlier run of this cancelling step did, when one ran to its end."""
        async with self._sessions() as s:
            earlier = await step_results.recorded(s, order_id, step)
        if earlier is None:
            return None
        released = [StockLine(line["sku"], int(line["quantity"])) for line in earlier["released"]]
        return OrderCancelled(released=released, pick_lists_cancelled=list(earlier["pick_lists_cancelled"]))

    async def _stop_external_picking(
        self, wms: ExternalWarehouse, order_id: str, reason: str, open_lists: list[str]
    ) -> list[KeyedEntry]:
        """Tell the WMS before our pick lists close and their stock goes back to other orders.

        Unreachable: the activity retries, and the stock stays reserved until the WMS has heard it.
        Refused (it never had the list, or finished it): ours close anyway, and the timeline says so."""
        # At once, not one after another: several slow answers must still fit in one attempt.
        outcomes = await asyncio.gather(
            *(wms.cancel_pick_list(pick_list_id, order_id, reason) for pick_list_id in open_lists),
            return_exceptions=True,
        )
        refusals = []
        for pick_list_id, outcome in zip(open_lists, outcomes, strict=True):
            if isinstance(outcome, ApplicationError) and outcome.non_retryable:
                log.warning("the WMS refused to cancel a pick list", pick_list_id=pick_list_id, reason=outcome.message)
                entry = TimelineEntry(utcnow(), OrderStatus.CANCELLED, "wms_cancel_refused", outcome.message)
                refusals.append(KeyedEntry(f"wms-cancel:{pick_list_id}", entry))
            elif isinstance(outcome, BaseException):
                raise outcome
        return refusals
