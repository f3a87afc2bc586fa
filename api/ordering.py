"""Submitting orders and reading them: the only place the API talks to order workflows."""

import uuid
from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.starting import Outcome, start_order
from api.caches import ActiveProducts
from api.problems import ProblemError, invalid, not_found
from config import Settings
from domain.orders import Order, OrderStatus, catalog_problems, validate, workflow_id_for
from domain.steps import OrderView
from rules import engine as rules_engine
from rules.engine import ActiveRules
from store import catalog, orders
from store.db import READ_ONLY, ShortWork
from store.tables import Product

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Accepted:
    order_id: str
    status: OrderStatus
    existing: bool


def conflict(order_id: str) -> ProblemError:
    return ProblemError(
        409,
        "Order exists with different content",
        f"order {order_id} was already submitted with a different payload; use a new external_id",
    )


async def submit(
    temporal: Client,
    short_work: ShortWork,
    settings: Settings,
    active_products: ActiveProducts,
    order: Order,
    active_rules: ActiveRules,
) -> Accepted:
    """Start the order's workflow once; an identical resubmission answers with the same order."""
    skus = sorted({line.sku for line in order.lines})
    active = active_products.known_active(skus)
    unsure = [sku for sku in skus if sku not in active]

    async def look_up() -> tuple[tuple[str, str] | None, dict[str, Product]]:
        async with short_work.sessions() as s:
            await s.connection(execution_options=READ_ONLY)  # SQLite: checking takes no write lock
            recorded = await orders.submitted(s, order.order_id)
            if recorded is not None or not unsure:
                return recorded, {}
            return None, await catalog.products_by_sku(s, unsure)

    recorded, known = await short_work.run(look_up)
    if recorded is not None:
        # Also covers workflows already removed by the namespace's retention.
        # Only here: a new order is fingerprinted once, by start_order.
        fingerprint, status = recorded
        if fingerprint != order.fingerprint():
            raise conflict(order.order_id)
        return Accepted(order.order_id, OrderStatus(status), existing=True)
    active_products.put_many(sku for sku, p in known.items() if p.active)  # not the remembered: TTL, not sliding
    active_by_sku = dict.fromkeys(active, True) | {sku: p.active for sku, p in known.items()}
    # A product believed active (ActiveProducts) is checked again by the order's confirm step.
    problems = validate(order) + catalog_problems(order, active_by_sku)
    if problems:
        raise invalid(problems)

    new = await short_work.run(rules_engine.decide_submitted, short_work.sessions, active_rules, settings, order)
    started = await start_order(temporal, settings, order, new=new)
    if started.outcome is Outcome.CONFLICT:
        raise conflict(order.order_id)
    return Accepted(order.order_id, started.status, existing=started.outcome is Outcome.EXISTING)


# A query needs a worker; with none answering, the read model serves instead of a hanging request.
QUERY_TIMEOUT = timedelta(seconds=3)
NO_LIVE_VIEW = (
    RPCStatusCode.CANCELLED,  # our QUERY_TIMEOUT ran out: the worker is busy with the order's steps
    RPCStatusCode.NOT_FOUND,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.FAILED_PRECONDITION,
)


async def live_view(temporal: Client, order_id: str) -> OrderView | None:
    """The workflow's own view of the order; None when there is no such workflow (any more) or no
    worker answers in time."""
    handle = temporal.get_workflow_handle(workflow_id_for(order_id))
    try:
        view: OrderView = await handle.query("view", result_type=OrderView, rpc_timeout=QUERY_TIMEOUT)
        return view
    except RPCError as err:
        # FAILED_PRECONDITION: the server has seen no worker polling the order's task queue lately.
        if err.status in NO_LIVE_VIEW:
            log.warning("live view unavailable, serving the read model", order_id=order_id, reason=err.status.name)
            return None
        raise


# How long a person's request may wait for a worker to take it before we say so.
UPDATE_TIMEOUT = timedelta(seconds=15)


async def control(
    temporal: Client,
    sessions: async_sessionmaker[AsyncSession],
    order_id: str,
    update: str,
    request: object,
    update_id: str | None = None,
) -> OrderView:
    """Send a person's request to the order as a Temporal update; a validator's refusal becomes 409.

    A fixed `update_id` makes a resend of the same request return the first answer instead of acting twice.
    """
    handle = temporal.get_workflow_handle(workflow_id_for(order_id))
    try:
        view: OrderView = await handle.execute_update(
            update, request, id=update_id or str(uuid.uuid4()), result_type=OrderView, rpc_timeout=UPDATE_TIMEOUT
        )
        return view
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type == "NotFound":
            raise ProblemError(404, "Not found", cause.message) from None
        if isinstance(cause, ApplicationError) and cause.type == "Rejected":
            raise ProblemError(409, "Request does not apply", cause.message) from None
        raise
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise ProblemError(
            503,
            "No worker answered",
            "no worker took the request in time; it may still take effect once one does, so check the order "
            "before sending it again",
        ) from None
    except RPCError as err:
        if err.status is not RPCStatusCode.NOT_FOUND:
            raise
    async with sessions() as s:
        recorded = await orders.get(s, order_id)
    if recorded is None:
        raise not_found(f"order {order_id}")
    raise ProblemError(409, "Request does not apply", f"the order is {recorded.status}; its workflow has finished")
