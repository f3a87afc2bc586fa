"""Submitting orders, reading them and acting on them, through the gateway to their workflows."""

from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.caches import ActiveProducts
from api.problems import ProblemError, invalid
from config import Settings
from domain.contract import Update
from domain.orders import InvalidField, Order, OrderStatus, invalid_skus, validate
from domain.policy import NewOrder
from domain.steps import OrderView
from gateway import orders as gateway
from gateway.errors import OrderNotFound, Refused, Unavailable
from gateway.orders import Outcome
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


@dataclass(frozen=True)
class Looked:
    """What the submit path reads before it starts an order (see `submit`)."""

    recorded: tuple[str, str] | None  # (fingerprint, status) of the order submitted before under this ID
    known: dict[str, Product] = field(default_factory=dict)
    invalid_fields: list[InvalidField] = field(default_factory=list)
    new: NewOrder | None = None  # the order and policy as settings and the business rules make them


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

    async def look_up() -> Looked:
        """In one session: the resubmission check, the catalogue's word on SKUs not cached as active, and,
        for a new order that validates, what the business rules make of it."""
        async with short_work.sessions() as s:
            await s.connection(execution_options=READ_ONLY)
            recorded = await orders.submitted(s, order.order_id)
            if recorded is not None:
                return Looked(recorded)
            known = await catalog.products_by_sku(s, unsure) if unsure else {}
            active_by_sku = dict.fromkeys(active, True) | {sku: p.active for sku, p in known.items()}
            # A product believed active (ActiveProducts) is checked again by the order's confirm step.
            invalid_fields = validate(order) + invalid_skus(order, active_by_sku)
            if invalid_fields:
                return Looked(None, known, invalid_fields)
            new = await rules_engine.new_order(s, active_rules, settings, order, datetime.now(UTC))
            return Looked(None, known, new=new)

    looked = await short_work.run(look_up)
    if looked.recorded is not None:
        # Also covers workflows already removed by the namespace's retention.
        # Only here: a new order is fingerprinted once, by gateway.start.
        fingerprint, status = looked.recorded
        if fingerprint != order.fingerprint():
            raise conflict(order.order_id)
        return Accepted(order.order_id, OrderStatus(status), existing=True)
    # Not the remembered: TTL, not sliding.
    active_products.put_many(sku for sku, p in looked.known.items() if p.active)
    if looked.invalid_fields:
        raise invalid(looked.invalid_fields)
    assert looked.new is not None
    started = await gateway.start(temporal, settings, order, new=looked.new)
    if started.outcome is Outcome.CONFLICT:
        raise conflict(order.order_id)
    return Accepted(order.order_id, started.status, existing=started.outcome is Outcome.EXISTING)


async def live_view(temporal: Client, order_id: str) -> OrderView | None:
    """The workflow's own view of the order; None when there is no such workflow (any more) or no
    worker answers in time, and the read model serves instead of a hanging request."""
    try:
        return await gateway.view(temporal, order_id)
    except (OrderNotFound, Unavailable) as err:
        log.warning("live view unavailable, serving the read model", order_id=order_id, reason=err.reason)
        return None


async def control(
    temporal: Client,
    sessions: async_sessionmaker[AsyncSession],
    order_id: str,
    update: Update,
    request: object,
    update_id: str | None = None,
) -> OrderView:
    """Send a person's request to the order; an order whose workflow has finished refuses it (409)."""
    try:
        return await gateway.control(temporal, order_id, update, request, update_id)
    except OrderNotFound:
        async with sessions() as s:
            recorded = await orders.get(s, order_id)
        if recorded is None:
            raise
        raise Refused(f"the order is {recorded.status}; its workflow has finished") from None
