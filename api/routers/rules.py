"""/v1/rules: business rules people write, try and activate without a release (docs/rules.md)."""

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from sqlalchemy.ext.asyncio import AsyncSession

from api.access import RuleEditor, RuleReader
from api.deps import ActiveRulesDep, SessionDep, SettingsDep
from api.limits import PageLimit
from api.problems import Problem, ProblemError, invalid, not_found
from api.rule_schemas import (
    ActivateIn,
    FiringOut,
    FiringPage,
    FiringResult,
    GiftNeed,
    RuleIn,
    RuleOut,
    RulePage,
    SimulateIn,
    SimulationOut,
    TestIn,
    TestOut,
)
from domain.events import RULE_ACTIVATED, RULE_ARCHIVED, BusinessEvent, event_id
from domain.orders import InvalidField
from domain.policy import NewOrder
from domain.rules import ACTION_NAMES, AddGift, Route, RuleStatus, RuleVersion, apply
from rules.conditions import ConditionError, compile_condition
from rules.engine import evaluate
from store import catalog, events
from store import rules as rule_store
from store.rules import RuleDraft
from store.tables import RuleRow

router = APIRouter(prefix="/v1/rules", tags=["rules"])

PROBLEMS: dict[int | str, dict[str, Any]] = {404: {"model": Problem}, 409: {"model": Problem}, 422: {"model": Problem}}
INT32 = 2**31 - 1  # rule IDs and versions are 32-bit columns
RuleIdPath = Annotated[int, Path(ge=1, le=INT32)]
# The rule ID a draft that is not saved yet goes by in /simulate and /test.
UNSAVED = 0
EXAMPLES = 10


def condition_problem(err: ConditionError, source: str, field: str = "when") -> ProblemError:
    line = source.count("\n", 0, err.position) + 1
    column = err.position - (source.rfind("\n", 0, err.position) + 1) + 1
    where = f"position {err.position} (line {line}, column {column})"
    return ProblemError(
        422,
        "Invalid rule",
        f"{err.kind} error at {where}: {err.message}",
        [InvalidField(field, f"{err.kind} error at {where}: {err.message}")],
    )


async def checked(session: AsyncSession, body: RuleIn, field: str = "") -> RuleDraft:
    """The draft, its condition compiled and checked and every action's references found, or 422."""
    try:
        compile_condition(body.when)
    except ConditionError as err:
        raise condition_problem(err, body.when, f"{field}when") from None
    problems: list[InvalidField] = []
    draft = body.draft()
    gifts = sorted({a.sku for a in draft.then if isinstance(a, AddGift)})
    known = await catalog.products_by_sku(session, gifts) if gifts else {}
    for i, action in enumerate(draft.then):
        at = f"{field}then[{i}]"
        if isinstance(action, AddGift):
            product = known.get(action.sku)
            if product is None:
                problems.append(InvalidField(f"{at}.sku", f"{action.sku} is not in the catalog"))
            elif not product.active:
                problems.append(InvalidField(f"{at}.sku", f"{action.sku} is not active"))
        if isinstance(action, Route):
            for j, code in enumerate(action.warehouses):
                if not await catalog.warehouse_exists(session, code):
                    problems.append(InvalidField(f"{at}.warehouses[{j}]", f"no warehouse {code}"))
    kinds = [ACTION_NAMES[type(a)] for a in draft.then]
    for kind, count in Counter(kinds).items():
        if count > 1 and kind not in ("add_gift", "tag"):
            problems.append(InvalidField(f"{field}then", f"{kind} appears {count} times; a rule sets it once"))
    if draft.active_from and draft.active_to and draft.active_to <= draft.active_from:
        problems.append(InvalidField(f"{field}active_to", "must be after active_from"))
    if problems:
        raise invalid(problems)
    return draft


async def rule_or_404(session: AsyncSession, rule_id: int, lock: bool = False) -> RuleRow:
    rule = await rule_store.get_rule(session, rule_id, lock=lock)
    if rule is None:
        raise not_found(f"rule {rule_id}")
    return rule


async def shown(session: AsyncSession, rule: RuleRow) -> RuleVersion:
    version = await rule_store.version_of(session, rule, rule.active_version or rule.latest_version)
    assert version is not None
    return version


def rule_event(kind: str, rule: RuleVersion, actor: str) -> BusinessEvent:
    now = datetime.now(UTC)
    data: dict[str, Any] = {"rule_id": rule.rule_id, "version": rule.version, "name": rule.name, "actor": actor}
    return BusinessEvent(event_id("rule", rule.ref, kind, now.isoformat()), kind, "", now, data)


@router.post("", status_code=201, responses=PROBLEMS)
async def create_rule(body: RuleIn, editor: RuleEditor, session: SessionDep, active: ActiveRulesDep) -> RuleOut:
    """Save a new rule as version 1: a draft, or active at once with `"status": "active"`."""
    saved = await rule_store.create(session, await checked(session, body), editor.actor)
    if body.status == "active":
        saved = await _activate(session, saved.rule_id, saved.version, editor.actor, active)
    return RuleOut.of(saved)


@router.get("")
async def list_rules(
    _: RuleReader,
    session: SessionDep,
    limit: PageLimit,
    status: RuleStatus | None = None,
    cursor: Annotated[int | None, Query(ge=0, le=INT32)] = None,
) -> RulePage:
    """Each rule at its active version (its latest when none is active), by rule ID."""
    found = await rule_store.current(session, status, limit + 1, cursor)
    return RulePage(
        items=[RuleOut.of(r) for r in found[:limit]],
        next_cursor=found[limit - 1].rule_id if len(found) > limit else None,
    )


@router.get("/{rule_id}", responses=PROBLEMS)
async def get_rule(rule_id: RuleIdPath, _: RuleReader, session: SessionDep) -> RuleOut:
    return RuleOut.of(await shown(session, await rule_or_404(session, rule_id)))


@router.put("/{rule_id}", responses=PROBLEMS)
async def save_rule(
    rule_id: RuleIdPath, body: RuleIn, editor: RuleEditor, session: SessionDep, active: ActiveRulesDep
) -> RuleOut:
    """Save a new version. Orders keep the version they were submitted under; the active version stays
    active until this one is activated (or at once with `"status": "active"`)."""
    draft = await checked(session, body)
    rule = await rule_or_404(session, rule_id, lock=True)
    saved = await rule_store.save_version(session, rule, draft, editor.actor)
    if body.status == "active":
        saved = await _activate(session, rule_id, saved.version, editor.actor, active)
    return RuleOut.of(saved)


@router.post("/{rule_id}/activate", responses=PROBLEMS)
async def activate_rule(
    rule_id: RuleIdPath, editor: RuleEditor, session: SessionDep, active: ActiveRulesDep, body: ActivateIn | None = None
) -> RuleOut:
    """Make a version the one that runs (default: the latest). Rolling back is activating an older one."""
    return RuleOut.of(await _activate(session, rule_id, body.version if body else None, editor.actor, active))


async def _activate(session: AsyncSession, rule_id: int, version: int | None, actor: str, active: Any) -> RuleVersion:
    rule = await rule_or_404(session, rule_id, lock=True)
    number = version or rule.latest_version
    chosen = await rule_store.version_of(session, rule, number)
    if chosen is None:
        raise ProblemError(404, "Not found", f"rule {rule_id} has no version {number}")
    try:
        compile_condition(chosen.when)  # saved under older checks, perhaps
    except ConditionError as err:
        raise condition_problem(err, chosen.when) from None
    if rule.active_version == number and rule.status == RuleStatus.ACTIVE.value:
        return chosen
    rule_store.activate(rule, number)
    activated = replace(chosen, status=RuleStatus.ACTIVE)
    await events.record(session, [rule_event(RULE_ACTIVATED, activated, actor)])
    await session.flush()
    active.forget()
    return activated


@router.post("/{rule_id}/archive", responses=PROBLEMS)
async def archive_rule(rule_id: RuleIdPath, editor: RuleEditor, session: SessionDep, active: ActiveRulesDep) -> RuleOut:
    """Stop the rule: it no longer runs on new orders; orders it fired on keep what it did."""
    rule = await rule_or_404(session, rule_id, lock=True)
    current = await shown(session, rule)
    if rule.status == RuleStatus.ARCHIVED.value:
        return RuleOut.of(current)
    rule_store.archive(rule)
    archived = replace(current, status=RuleStatus.ARCHIVED)
    await events.record(session, [rule_event(RULE_ARCHIVED, archived, editor.actor)])
    active.forget()
    return RuleOut.of(archived)


@router.get("/{rule_id}/versions", responses=PROBLEMS)
async def rule_versions(rule_id: RuleIdPath, _: RuleReader, session: SessionDep) -> list[RuleOut]:
    """Every version, newest first."""
    return [RuleOut.of(v) for v in await rule_store.versions(session, await rule_or_404(session, rule_id))]


@router.get("/{rule_id}/firings", responses=PROBLEMS)
async def rule_firings(
    rule_id: RuleIdPath,
    _: RuleReader,
    session: SessionDep,
    limit: PageLimit,
    cursor: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> FiringPage:
    """Orders the rule fired on, newest first."""
    await rule_or_404(session, rule_id)
    rows = await rule_store.firings(session, rule_id, limit + 1, cursor)
    items = [
        FiringOut(
            order_id=r.order_id,
            rule=f"{r.rule_id}@{r.version}",
            did=r.did,
            overridden=r.overridden,
            at=r.fired_at,
        )
        for r in rows[:limit]
    ]
    return FiringPage(items=items, next_cursor=rows[limit - 1].id if len(rows) > limit else None)


async def _tried(session: AsyncSession, body: SimulateIn) -> RuleVersion:
    if body.rule is not None:
        draft = await checked(session, body.rule, "rule.")
        return RuleVersion(UNSAVED, 0, draft.name, draft.when, draft.then, draft.priority, draft.exclusive)
    if body.rule_id is None:
        raise invalid([InvalidField("rule", "give a draft rule, or a rule_id (and version)")])
    rule = await rule_or_404(session, body.rule_id)
    version = await rule_store.version_of(session, rule, body.version or rule.latest_version)
    if version is None:
        raise invalid([InvalidField("version", f"rule {body.rule_id} has no version {body.version}")])
    return version


@router.post("/simulate", responses=PROBLEMS)
async def simulate(body: SimulateIn, _: RuleEditor, session: SessionDep, active: ActiveRulesDep) -> SimulationOut:
    """Replay a draft (or a saved version) over the newest orders of the read model, with the active
    rules around it: where it matches, what it would have done, what it overrides or is overridden by."""
    tried = await _tried(session, body)
    ruleset = await active.get(session)
    orders = await rule_store.recent_orders(session, body.last)
    now = datetime.now(UTC)
    matched: list[str] = []
    actions: Counter[str] = Counter()
    gift_units: Counter[str] = Counter()
    overrides: Counter[str] = Counter()
    overridden_by: Counter[str] = Counter()
    for order, count in orders:
        decision = await evaluate(session, ruleset, order, now, [tried], order_count=count)
        mine = next((f for f in decision.firings if f.rule == tried.ref), None)
        if mine is None:
            continue
        matched.append(order.order_id)
        for action in tried.then:
            name = ACTION_NAMES[type(action)]
            if not any(o.startswith(f"{name} overridden") for o in mine.overridden):
                actions[name] += 1
            if isinstance(action, AddGift):
                gift_units[action.sku] += action.quantity
        for text in mine.overridden:
            overridden_by[text.rsplit(" by ", 1)[1]] += 1
        for other in decision.firings:
            if other.rule != tried.ref and any(o.endswith(f" by {tried.ref}") for o in other.overridden):
                overrides[other.rule] += 1
    stock = await rule_store.available(session, sorted(gift_units))
    return SimulationOut(
        rule=tried.ref if tried.rule_id != UNSAVED else "draft",
        orders_checked=len(orders),
        matched=len(matched),
        examples=matched[:EXAMPLES],
        actions=dict(actions),
        gifts=[
            GiftNeed(sku=sku, units=units, available=stock.get(sku, 0)) for sku, units in sorted(gift_units.items())
        ],
        overrides=dict(overrides),
        overridden_by=dict(overridden_by),
    )


@router.post("/test", responses=PROBLEMS)
async def test_rules(
    body: TestIn, _: RuleEditor, session: SessionDep, active: ActiveRulesDep, settings: SettingsDep
) -> TestOut:
    """Evaluate the active rules (and a draft) on one order body, as a submission would, without submitting."""
    extra = []
    if body.rule is not None:
        draft = await checked(session, body.rule, "rule.")
        extra = [RuleVersion(UNSAVED, 0, draft.name, draft.when, draft.then, draft.priority, draft.exclusive)]
    order = body.order.to_domain()
    now = datetime.now(UTC)
    decision = await evaluate(session, await active.get(session), order, now, extra)
    new = apply(
        NewOrder(order, settings.order_policy(order, now)), decision, now, settings.promise_hours(), settings.time_scale
    )
    policy = new.policy
    return TestOut(
        fired=[FiringResult.of(f) for f in decision.firings],
        gifts=[
            {"sku": line.sku, "quantity": line.quantity, "required": line.gift_required}
            for line in new.order.lines
            if line.gift
        ],
        approval_reasons=policy.approval_reasons,
        hold=policy.hold_reason,
        hold_until=policy.hold_until,
        priority=new.order.priority,
        ship_by=policy.ship_by,
        allow_split=policy.allow_split,
        allow_partial=policy.allow_partial,
        route=policy.route,
        route_only=policy.route_only,
        tags=policy.tags,
    )
