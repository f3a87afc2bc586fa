"""`--rules N`: orders end to end without business rules, then with N active rules, in one invocation.

The rules are what a shop accumulates: most name channels, customers or regions these orders do not
have (each still evaluated on every order), a few fire (tags, a promise, a priority), and one asks for
the customer's order count (a read-model count per order). None holds, routes or asks approval, so both
runs do the same work apart from the rules.
"""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.orders import Priority
from domain.rules import Action, SetPriority, SetShipBy, Tag
from rules.conditions import compile_condition
from store import rules as rule_store
from store.rules import RuleDraft


def bench_rules(count: int) -> list[RuleDraft]:
    firing: list[tuple[str, list[Action]]] = [
        ("order.total > 0.0", [Tag(["bench"])]),
        ("order.lines.exists(l, l.quantity >= 1)", [SetShipBy(48)]),
        ('order.currency == "CNY" && order.total < 1000000.0', [SetPriority(Priority.STANDARD)]),
        ("customer.first_order && order.total > 1000000.0", [Tag(["big-first-order"])]),
    ]
    found = firing[:count] + [_idle(i) for i in range(max(0, count - len(firing)))]
    drafts = [
        RuleDraft(name=f"bench rule {n}", when=when, then=then, priority=n) for n, (when, then) in enumerate(found)
    ]
    for draft in drafts:
        compile_condition(draft.when)
    return drafts


def _idle(i: int) -> tuple[str, list[Action]]:
    kinds = [
        f'order.channel == "shop{i}" && order.total > {100 + i}.0',
        f'customer.email.endsWith("@corp{i}.example")',
        f'order.ship_to.region == "Region {i}" && order.lines.exists(l, l.sku == "GIFT-{i}")',
    ]
    return kinds[i % len(kinds)], [Tag([f"t{i}"])]


async def install_rules(db: AsyncEngine, count: int) -> list[int]:
    """Save and activate `count` rules; their IDs."""
    sessions = async_sessionmaker(db, class_=AsyncSession, expire_on_commit=False)
    ids: list[int] = []
    async with sessions.begin() as s:
        for draft in bench_rules(count):
            saved = await rule_store.create(s, draft, "bench")
            rule = await rule_store.get_rule(s, saved.rule_id)
            assert rule is not None
            rule_store.activate(rule, saved.version)
            ids.append(saved.rule_id)
    return ids


async def archive_rules(db: AsyncEngine, ids: list[int]) -> None:
    sessions = async_sessionmaker(db, class_=AsyncSession, expire_on_commit=False)
    async with sessions.begin() as s:
        for rule_id in ids:
            rule = await rule_store.get_rule(s, rule_id)
            if rule is not None:
                rule_store.archive(rule)


def compare(without: dict[str, Any], with_rules: dict[str, Any], count: int) -> dict[str, Any]:
    base, ruled = without["per_second"], with_rules["per_second"]
    return {
        "rules": count,
        "without": without,
        "with": with_rules,
        "ratio": round(ruled / base, 3) if base else 0.0,
        "submit_p50_ms": {
            "without": without["submit"]["latency_ms"]["p50"],
            "with": with_rules["submit"]["latency_ms"]["p50"],
        },
    }


def evaluation_cost(count: int = 50, orders: int = 2000) -> dict[str, float]:
    """In process, no database: microseconds per order to hand an order to CEL and run `count` rules."""
    import time
    from datetime import UTC, datetime

    from domain.orders import Address, Customer, Order, OrderLine
    from domain.rules import RuleVersion
    from rules.conditions import context_for
    from rules.engine import compile_rules, facts

    ruleset = compile_rules(
        [RuleVersion(i + 1, 1, d.name, d.when, d.then, d.priority) for i, d in enumerate(bench_rules(count))]
    )
    order = Order(
        "web",
        "BENCH-1",
        Customer("C-1", "Li Wei", "li@example.com"),
        Address("Li Wei", "88 Century Ave", "Shanghai", "200120", "CN"),
        [OrderLine(f"SKU-{i}", 1 + i, 4900) for i in range(3)],
        "CNY",
    )
    now = datetime.now(UTC)
    started = time.perf_counter()
    for _ in range(orders):
        context = context_for(facts(order, 1, ruleset.parts), now)
    built = time.perf_counter()
    for _ in range(orders):
        ruleset.fired(context, now)
    done = time.perf_counter()
    return {
        "rules": count,
        "context_us": round((built - started) / orders * 1e6, 1),
        "evaluate_us": round((done - built) / orders * 1e6, 1),
    }


if __name__ == "__main__":
    print(evaluation_cost())
