"""Business rules: versions saved immutably, the active version of each rule, and where rules fired."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.orders import Address, Customer, Order, OrderLine, Priority
from domain.policy import RuleFiring
from domain.rules import (
    ACTION_NAMES,
    Action,
    AddGift,
    Hold,
    RequireApproval,
    Route,
    RouteMode,
    RuleStatus,
    RuleVersion,
    SetPriority,
    SetShipBy,
    SetSplit,
    Tag,
)
from store.sql import utcnow
from store.tables import OrderLineRow, OrderRow, RuleFiringRow, RuleRow, RuleVersionRow, Stock


@dataclass(frozen=True)
class RuleDraft:
    """What a person saves; each save is a new version."""

    name: str
    when: str
    then: list[Action]
    priority: int = 100
    exclusive: bool = False
    description: str = ""
    active_from: datetime | None = None
    active_to: datetime | None = None


def action_to_json(action: Action) -> dict[str, Any]:
    data: dict[str, Any] = {"type": ACTION_NAMES[type(action)]}
    data.update({k: (v.value if hasattr(v, "value") else v) for k, v in vars(action).items()})
    return data


def action_from_json(data: dict[str, Any]) -> Action:
    fields = {k: v for k, v in data.items() if k != "type"}
    match data["type"]:
        case "add_gift":
            return AddGift(**fields)
        case "require_approval":
            return RequireApproval(**fields)
        case "hold":
            return Hold(**fields)
        case "set_priority":
            return SetPriority(Priority(fields["priority"]))
        case "set_ship_by":
            return SetShipBy(**fields)
        case "route":
            return Route(list(fields["warehouses"]), RouteMode(fields.get("mode", "prefer")))
        case "set_split":
            return SetSplit(**fields)
        case "tag":
            return Tag(list(fields["tags"]))
    raise ValueError(f"unknown action {data['type']!r}")


def _version(rule: RuleRow, row: RuleVersionRow) -> RuleVersion:
    """A version is active while it is the rule's active one; one saved after it (and never active since)
    is a draft; every other version is archived."""
    if rule.active_version == row.version:
        status = RuleStatus.ACTIVE
    elif rule.status != RuleStatus.ARCHIVED.value and row.version > (rule.active_version or 0):
        status = RuleStatus.DRAFT
    else:
        status = RuleStatus.ARCHIVED
    return RuleVersion(
        rule_id=row.rule_id,
        version=row.version,
        name=row.name,
        when=row.when,
        then=[action_from_json(a) for a in row.then],
        priority=row.priority,
        exclusive=row.exclusive,
        status=status,
        description=row.description,
        active_from=row.active_from,
        active_to=row.active_to,
    )


async def create(session: AsyncSession, draft: RuleDraft, actor: str) -> RuleVersion:
    now = utcnow()
    rule = RuleRow(
        name=draft.name,
        status=RuleStatus.DRAFT.value,
        latest_version=1,
        active_version=None,
        created_at=now,
        updated_at=now,
    )
    session.add(rule)
    await session.flush()
    return await _add_version(session, rule, draft, 1, actor)


async def save_version(session: AsyncSession, rule: RuleRow, draft: RuleDraft, actor: str) -> RuleVersion:
    """A new version; the active version (if any) stays active until the new one is activated."""
    rule.latest_version += 1
    rule.name = draft.name
    rule.updated_at = utcnow()
    if rule.status == RuleStatus.ARCHIVED.value:
        rule.status = RuleStatus.DRAFT.value
    return await _add_version(session, rule, draft, rule.latest_version, actor)


async def _add_version(session: AsyncSession, rule: RuleRow, draft: RuleDraft, version: int, actor: str) -> RuleVersion:
    row = RuleVersionRow(
        rule_id=rule.rule_id,
        version=version,
        name=draft.name,
        description=draft.description,
        when=draft.when,
        then=[action_to_json(a) for a in draft.then],
        priority=draft.priority,
        exclusive=draft.exclusive,
        active_from=draft.active_from,
        active_to=draft.active_to,
        created_by=actor[:100],
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return _version(rule, row)


async def get_rule(session: AsyncSession, rule_id: int, lock: bool = False) -> RuleRow | None:
    query = select(RuleRow).where(RuleRow.rule_id == rule_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def version_of(session: AsyncSession, rule: RuleRow, version: int) -> RuleVersion | None:
    row = await session.get(RuleVersionRow, (rule.rule_id, version))
    return _version(rule, row) if row else None


async def versions(session: AsyncSession, rule: RuleRow) -> list[RuleVersion]:
    rows = await session.execute(
        select(RuleVersionRow).where(RuleVersionRow.rule_id == rule.rule_id).order_by(RuleVersionRow.version.desc())
    )
    return [_version(rule, row) for row in rows.scalars()]


async def current(session: AsyncSession, status: RuleStatus | None, limit: int, after: int | None) -> list[RuleVersion]:
    """Each rule at its active version, or its latest when none is active; by rule ID (one read)."""
    shown = func.coalesce(RuleRow.active_version, RuleRow.latest_version)
    query = (
        select(RuleRow, RuleVersionRow)
        .join(RuleVersionRow, (RuleVersionRow.rule_id == RuleRow.rule_id) & (RuleVersionRow.version == shown))
        .order_by(RuleRow.rule_id)
        .limit(limit)
    )
    if status is not None:
        query = query.where(RuleRow.status == status.value)
    if after is not None:
        query = query.where(RuleRow.rule_id > after)
    return [_version(rule, row) for rule, row in (await session.execute(query)).all()]


async def active(session: AsyncSession) -> list[RuleVersion]:
    """Every active rule at its active version: what runs on the next order."""
    rows = await session.execute(
        select(RuleRow, RuleVersionRow)
        .join(RuleVersionRow, RuleVersionRow.rule_id == RuleRow.rule_id)
        .where(RuleRow.status == RuleStatus.ACTIVE.value, RuleVersionRow.version == RuleRow.active_version)
    )
    return [_version(rule, row) for rule, row in rows.all()]


def activate(rule: RuleRow, version: int) -> None:
    rule.status = RuleStatus.ACTIVE.value
    rule.active_version = version
    rule.updated_at = utcnow()


def archive(rule: RuleRow) -> None:
    rule.status = RuleStatus.ARCHIVED.value
    rule.active_version = None
    rule.updated_at = utcnow()


async def record_firings(session: AsyncSession, order_id: str, firings: list[RuleFiring], at: datetime) -> None:
    """Once per order and rule: a confirm step run again finds them written."""
    if not firings:
        return
    done = set(
        (await session.execute(select(RuleFiringRow.rule_id).where(RuleFiringRow.order_id == order_id))).scalars()
    )
    for firing in firings:
        rule_id, _, version = firing.rule.partition("@")
        if int(rule_id) in done:
            continue
        session.add(
            RuleFiringRow(
                order_id=order_id,
                rule_id=int(rule_id),
                version=int(version),
                did=list(firing.did),
                overridden=list(firing.overridden),
                fired_at=at,
            )
        )


async def firings(session: AsyncSession, rule_id: int, limit: int, before: int | None) -> list[RuleFiringRow]:
    query = select(RuleFiringRow).where(RuleFiringRow.rule_id == rule_id).order_by(RuleFiringRow.id.desc()).limit(limit)
    if before is not None:
        query = query.where(RuleFiringRow.id < before)
    return list((await session.execute(query)).scalars())


async def order_count(session: AsyncSession, customer_id: str) -> int:
    """Orders of this customer in the read model (the order being submitted is not there yet)."""
    count = await session.scalar(select(func.count()).select_from(OrderRow).where(OrderRow.customer_id == customer_id))
    return int(count or 0)


async def recent_orders(session: AsyncSession, limit: int) -> list[tuple[Order, int]]:
    """The newest orders of the read model, as submitted (without rules' gift lines), each with how many
    orders of its customer the read model holds besides it."""
    rows = list((await session.execute(select(OrderRow).order_by(OrderRow.created_at.desc()).limit(limit))).scalars())
    if not rows:
        return []
    ids = [row.order_id for row in rows]
    lines: dict[str, list[OrderLine]] = {}
    for line in (
        await session.execute(select(OrderLineRow).where(OrderLineRow.order_id.in_(ids)).order_by(OrderLineRow.line_no))
    ).scalars():
        if not line.gift:  # as the channel submitted it
            lines.setdefault(line.order_id, []).append(OrderLine(line.sku, line.quantity, line.unit_price))
    counted = await session.execute(
        select(OrderRow.customer_id, func.count())
        .where(OrderRow.customer_id.in_({row.customer_id for row in rows}))
        .group_by(OrderRow.customer_id)
    )
    counts = {customer_id: int(n) for customer_id, n in counted.all()}
    return [
        (
            Order(
                channel=row.channel,
                external_id=row.external_id,
                customer=Customer(row.customer_id, row.customer_name, row.customer_email),
                ship_to=Address(**row.ship_to),
                lines=lines.get(row.order_id, []),
                currency=row.currency,
                ship_by=None,
                priority=Priority(row.priority),
            ),
            int(counts.get(row.customer_id, 1)) - 1,
        )
        for row in rows
    ]


async def available(session: AsyncSession, skus: list[str]) -> dict[str, int]:
    """Units available now (on hand less reserved), all warehouses together."""
    if not skus:
        return {}
    rows = await session.execute(
        select(Stock.sku, func.sum(Stock.on_hand - Stock.reserved)).where(Stock.sku.in_(skus)).group_by(Stock.sku)
    )
    return {sku: int(units or 0) for sku, units in rows.all()}


async def firings_of_order(session: AsyncSession, order_id: str) -> list[tuple[RuleFiringRow, str]]:
    """The rules that fired on an order, with each version's name, in the order they ran."""
    rows = await session.execute(
        select(RuleFiringRow, RuleVersionRow.name)
        .join(
            RuleVersionRow,
            (RuleVersionRow.rule_id == RuleFiringRow.rule_id) & (RuleVersionRow.version == RuleFiringRow.version),
        )
        .where(RuleFiringRow.order_id == order_id)
        .order_by(RuleFiringRow.id)
    )
    return [(firing, name) for firing, name in rows.all()]
