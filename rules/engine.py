"""Rules at work on an order: the active rules, compiled once and kept for a few seconds; evaluated in
running order against the order as submitted; their decision fixed into the order's workflow input.

Used by every path that starts an order (POST /v1/orders, spreadsheet imports) before the workflow
starts, so what the rules decided is part of the order's durable history from its first event.
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import cel
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from config import Settings
from domain.money import format_minor
from domain.orders import Order
from domain.policy import NewOrder
from domain.rules import Decision, RuleVersion, apply, decide, running_order
from rules.conditions import Condition, compile_condition, context_for
from store import rules as rule_store

log = structlog.get_logger(__name__)

# Customer facts that cost a read-model query; asked for only when a rule mentions them.
HISTORY_FACTS = ("order_count", "first_order")
# Parts of the facts built only when a rule mentions them (`RuleSet.parts`).
OPTIONAL_PARTS = ("lines", "ship_to", "customer")
# One rule slower than this on an order is logged: its condition is cheap to write and costly to run
# (well above what a preempted thread on a busy machine shows).
SLOW_RULE_S = 0.05


@dataclass(frozen=True)
class CompiledRule:
    version: RuleVersion
    condition: Condition


@dataclass(frozen=True)
class RuleSet:
    rules: list[CompiledRule]

    @property
    def parts(self) -> frozenset[str]:
        """The parts of the order the rules mention: each nested part costs tens of microseconds to hand
        to CEL on every order, so a part no rule reads is left out."""
        return frozenset(p for p in OPTIONAL_PARTS if any(p in r.condition.source for r in self.rules))

    @property
    def needs_history(self) -> bool:
        return any(fact in r.condition.source for r in self.rules for fact in HISTORY_FACTS)

    def fired(self, context: cel.Context, at: datetime) -> list[RuleVersion]:
        """Rules whose condition holds, in running order; an exclusive one ends the run."""
        fired: list[RuleVersion] = []
        for rule in self.rules:
            if not rule.version.in_force(at):
                continue
            started = time.perf_counter()
            try:
                holds = rule.condition.holds(context)
            except (KeyError, IndexError, ZeroDivisionError, TypeError, RuntimeError, ValueError) as err:
                # A condition that cannot be decided for this order does not fire; the order goes on.
                log.warning("rule condition failed", rule=rule.version.ref, error=str(err)[:200])
                holds = False
            spent = time.perf_counter() - started
            if spent > SLOW_RULE_S:
                log.warning("slow rule condition", rule=rule.version.ref, ms=round(spent * 1000, 2))
            if holds:
                fired.append(rule.version)
                if rule.version.exclusive:
                    break
        return fired


def compile_rules(versions: list[RuleVersion]) -> RuleSet:
    return RuleSet([CompiledRule(v, compile_condition(v.when)) for v in running_order(versions)])


def facts(order: Order, order_count: int = 0, parts: frozenset[str] = frozenset(OPTIONAL_PARTS)) -> dict[str, Any]:
    """What a condition sees: `order.*` and `customer.*` (docs/rules.md lists every field); of the
    nested parts, only `parts`."""
    found = _facts(order, order_count)
    if "lines" not in parts:
        del found["order"]["lines"]
    if "ship_to" not in parts:
        del found["order"]["ship_to"]
    if "customer" not in parts:
        del found["customer"]
    return found


def _facts(order: Order, order_count: int) -> dict[str, Any]:
    ship_to = order.ship_to
    return {
        "order": {
            "channel": order.channel,
            "external_id": order.external_id,
            "total": _amount(order.total, order.currency),
            "currency": order.currency,
            "priority": order.priority.value,
            "lines": [
                {
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "unit_price": float(format_minor(line.unit_price, order.currency)),
                }
                for line in order.lines
            ],
            "ship_to": {
                "name": ship_to.name,
                "line1": ship_to.line1,
                "line2": ship_to.line2 or "",
                "city": ship_to.city,
                "postal_code": ship_to.postal_code,
                "country": ship_to.country,
                "region": ship_to.region or "",
            },
        },
        "customer": {
            "id": order.customer.id,
            "name": order.customer.name,
            "email": order.customer.email,
            "order_count": order_count,
            "first_order": order_count == 0,
        },
    }


def _amount(minor: int, currency: str) -> float:
    return float(format_minor(minor, currency))


class ActiveRules:
    """The compiled active rules of this process, loaded again after `ttl` seconds or when a rule is
    activated or archived through this process (other processes see the change within `ttl`)."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._loaded: tuple[float, RuleSet] | None = None
        self._lock = asyncio.Lock()

    def forget(self) -> None:
        self._loaded = None

    async def get(self, session: AsyncSession) -> RuleSet:
        loaded = self._loaded
        if loaded is not None and loaded[0] > self._clock():
            return loaded[1]
        async with self._lock:
            loaded = self._loaded
            if loaded is not None and loaded[0] > self._clock():
                return loaded[1]
            ruleset = compile_rules(await rule_store.active(session))
            if self.ttl > 0:
                self._loaded = (self._clock() + self.ttl, ruleset)
            return ruleset


async def evaluate(
    session: AsyncSession,
    ruleset: RuleSet,
    order: Order,
    at: datetime,
    extra: list[RuleVersion] | None = None,
    order_count: int | None = None,
) -> Decision:
    """The decision of the rule set (and `extra` drafts, for trying) on one order."""
    if extra:
        replaced = {v.rule_id for v in extra}  # a draft stands in for its rule's active version
        kept = [r for r in ruleset.rules if r.version.rule_id not in replaced]
        merged = [*kept, *compile_rules(extra).rules]
        ruleset = RuleSet(sorted(merged, key=lambda r: (r.version.priority, r.version.rule_id)))
    count = order_count or 0
    if order_count is None and ruleset.needs_history:
        count = await rule_store.order_count(session, order.customer.id)
    fired = ruleset.fired(context_for(facts(order, count, ruleset.parts), at), at)
    return decide(fired)


async def fired_on_edited(session: AsyncSession, ruleset: RuleSet, order: Order, at: datetime) -> list[RuleVersion]:
    """The rules whose condition holds on an order already placed, as an edit leaves it (domain/edit_rules.py):
    its customer's order count leaves the order itself out, as it did at submission."""
    count = 0
    if ruleset.needs_history:
        count = max(0, await rule_store.order_count(session, order.customer.id) - 1)
    return ruleset.fired(context_for(facts(order, count, ruleset.parts), at), at)


async def new_order(
    session: AsyncSession, active_rules: ActiveRules, settings: Settings, order: Order, received_at: datetime
) -> NewOrder:
    """What starts the order's workflow: the order and its policy as settings and the active rules make them."""
    new = NewOrder(order, settings.order_policy(order, received_at))
    ruleset = await active_rules.get(session)
    if not ruleset.rules:
        return new
    decision = await evaluate(session, ruleset, order, received_at)
    return apply(new, decision, received_at, settings.promise_hours(), settings.time_scale)
