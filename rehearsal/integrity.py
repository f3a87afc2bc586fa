"""The day's integrity, read from the database, Temporal and the fake carrier after the day closed.

Each check gives ok and the problems found. The rehearsal fails (exit 1) when any check fails."""

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from config import Settings
from domain.contract import WorkflowType, order_id_of
from rehearsal.clock import Clock
from rehearsal.demand import Day
from rehearsal.people import People
from rehearsal.play import Log
from rehearsal.stack import QUEUE, RehearsalStack
from store.tables import (
    AlertRow,
    Invoice,
    OrderExceptionRow,
    OrderLineRow,
    OrderRow,
    PickList,
    Reservation,
    Shipment,
    Stock,
    StockMove,
    WebhookDeliveryRow,
)

FINISHED = ("completed", "delivered", "cancelled")
# The ladder every exception of the day climbs: the settings' default, in simulated seconds.
REMIND_S = Settings().escalation_remind_minutes * 60
ESCALATE_S = Settings().escalation_manager_minutes * 60
ALERT_WITHIN_S = 60  # simulated
# Timers fire when the worker gets to them: on a loaded machine, and across the worker's kill and restart,
# a few real seconds late. Lateness beyond this many real seconds fails the ladder check.
LATE_REAL_S = 30


def _result(problems: list[str], **figures: Any) -> dict[str, Any]:
    return {"ok": not problems, "problems": problems[:20], "problem_count": len(problems), **figures}


async def check(
    db: AsyncEngine,
    client: Client,
    stack: RehearsalStack,
    day: Day,
    clock: Clock,
    log: Log,
    people: People,
    kpis: dict[str, Any],
    received_events: set[str],
) -> dict[str, Any]:
    async with db.connect() as c:
        orders = {r.order_id: r for r in (await c.execute(select(OrderRow))).all()}
        lines = (await c.execute(select(OrderLineRow.order_id, OrderLineRow.sku, OrderLineRow.quantity))).all()
        picks = (await c.execute(select(PickList))).all()
        ships = (await c.execute(select(Shipment))).all()
        invoices = (await c.execute(select(Invoice))).all()
        exceptions = (await c.execute(select(OrderExceptionRow))).all()
        alerts = (await c.execute(select(AlertRow))).all()
        stock = (await c.execute(select(Stock))).all()
        ledger = (
            await c.execute(
                select(StockMove.warehouse, StockMove.sku, StockMove.on_hand_change, StockMove.reserved_change)
            )
        ).all()
        reservations = (await c.execute(select(Reservation))).all()
        deliveries = (await c.execute(select(WebhookDeliveryRow.event_id, WebhookDeliveryRow.status))).all()
    query = f'WorkflowType="{WorkflowType.ORDER.value}" AND TaskQueue="{QUEUE}"'
    workflows = {order_id_of(w.id) async for w in client.list_workflows(query)}
    checks = {
        "no_order_lost": lost(day, orders, workflows, log),
        "no_duplicate_shipment_or_invoice": duplicates(
            lines, picks, ships, invoices, await stack.tms_records(), await stack.tms_calls()
        ),
        "ledger_balances": balances(stock, ledger, reservations, picks, ships),
        "every_order_finished_or_waiting": waiting(orders, exceptions, picks),
        "exceptions_alerted_and_escalated": ladders(exceptions, alerts, clock),
        "promises_warned_before_breaking": promises(kpis),
        "people_only_where_a_fault_needs_them": manual(day, kpis),
        "webhooks_caught_up": webhooks(deliveries, received_events),
    }
    return {"ok": all(c["ok"] for c in checks.values()), **checks}


def lost(day: Day, orders: dict[str, Any], workflows: set[str], log: Log) -> dict[str, Any]:
    """Every order sent has its workflow and its row in the read model; every sending was accepted."""
    planned = {o.order_id for o in day.orders}
    problems = [f"order {order_id} was sent but has no workflow" for order_id in sorted(planned - workflows)]
    problems += [
        f"order {order_id} runs but the read model has no row for it yet"
        for order_id in sorted((planned & workflows) - set(orders))
    ]
    refused = {k: v for k, v in log.accepted.items() if v not in (200, 201, 202)}
    problems += [f"order {k}: answer {v}" for k, v in sorted(refused.items())]
    return _result(problems, planned=len(planned), recorded=len(set(orders) & planned), workflows=len(workflows))


def duplicates(
    lines: Any, picks: Any, ships: Any, invoices: Any, tms: dict[str, Any], tms_calls: list[dict[str, Any]]
) -> dict[str, Any]:
    """Nothing shipped beyond what was ordered, no shipment invoiced twice, no pick list booked twice at
    the carrier (its records, by idempotency key, against the pick list each call named)."""
    ordered: Counter[tuple[str, str]] = Counter()
    for order_id, sku, quantity in lines:
        ordered[(order_id, sku)] += quantity
    picked_lines = {p.pick_list_id: p.lines for p in picks}
    shipped: Counter[tuple[str, str]] = Counter()
    for s in ships:
        for line in picked_lines.get(s.pick_list_id, []):
            shipped[(s.order_id, line["sku"])] += int(line["quantity"])
    problems = [
        f"{order_id} shipped {n} x {sku}, ordered {ordered[(order_id, sku)]}"
        for (order_id, sku), n in sorted(shipped.items())
        if n > ordered[(order_id, sku)]
    ]
    per_shipment = Counter(i.shipment_id for i in invoices if i.shipment_id)
    problems += [f"shipment {s} invoiced {n} times" for s, n in sorted(per_shipment.items()) if n > 1]
    shipments_of = Counter(s.order_id for s in ships)
    invoices_of = Counter(i.order_id for i in invoices)
    problems += [
        f"{o}: {n} invoices for {shipments_of[o]} shipments"
        for o, n in sorted(invoices_of.items())
        if n > shipments_of[o]
    ]
    keys_of: dict[str, set[str]] = defaultdict(set)
    for call in tms_calls:
        body = call.get("body")
        if call.get("idempotency_key") in tms and isinstance(body, dict):
            keys_of[str(body.get("pick_list_id"))].add(str(call["idempotency_key"]))
    booked = {pick_list: len(keys) for pick_list, keys in keys_of.items()}
    problems += [f"pick list {p} booked {n} times at the carrier" for p, n in sorted(booked.items()) if n > 1]
    return _result(problems, shipments=len(ships), invoices=len(invoices), carrier_bookings=sum(booked.values()))


def balances(stock: Any, ledger: Any, reservations: Any, picks: Any, ships: Any) -> dict[str, Any]:
    on_hand: Counter[tuple[str, str]] = Counter()
    reserved: Counter[tuple[str, str]] = Counter()
    for warehouse, sku, on_hand_change, reserved_change in ledger:
        on_hand[(warehouse, sku)] += on_hand_change
        reserved[(warehouse, sku)] += reserved_change
    active: Counter[tuple[str, str]] = Counter()
    for r in reservations:
        if r.state == "active":
            active[(r.warehouse, r.sku)] += r.quantity
    problems = []
    for s in stock:
        key = (s.warehouse, s.sku)
        if s.on_hand != on_hand[key] or s.reserved != reserved[key]:
            problems.append(f"{key}: stock {s.on_hand}/{s.reserved} but ledger {on_hand[key]}/{reserved[key]}")
        if s.reserved != active[key]:
            problems.append(f"{key}: {s.reserved} reserved but active reservations hold {active[key]}")
        if s.on_hand < 0 or s.reserved > s.on_hand:
            problems.append(f"{key}: oversold ({s.on_hand} on hand, {s.reserved} reserved)")
    picked_lines = {p.pick_list_id: (p.warehouse, p.lines) for p in picks}
    left: Counter[tuple[str, str]] = Counter()
    for s in ships:
        warehouse, plines = picked_lines.get(s.pick_list_id, ("?", []))
        for line in plines:
            left[(warehouse, line["sku"])] += int(line["quantity"])
    return _result(problems, stock_rows=len(stock), ledger_entries=len(ledger), units_shipped=sum(left.values()))


def waiting(orders: dict[str, Any], exceptions: Any, picks: Any) -> dict[str, Any]:
    open_on = defaultdict(list)
    for e in exceptions:
        if e.resolved_at is None:
            open_on[e.order_id].append(e.kind)
    open_picks = {p.order_id for p in picks if p.state == "open"}
    statuses: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    problems = []
    for order_id, o in sorted(orders.items()):
        statuses[o.status] += 1
        if o.status in FINISHED:
            continue
        if open_on.get(order_id):
            reasons[f"{o.status}: open exception {sorted(open_on[order_id])[0]}"] += 1
        elif o.status == "picking" and order_id in open_picks:
            reasons["picking: pick list with the warehouse"] += 1
        elif o.status == "backordered":
            reasons["backordered: waiting for stock within its window"] += 1
        else:
            problems.append(f"{order_id} is {o.status} with no reason to wait")
    return _result(problems, statuses=dict(statuses), waiting=dict(reasons))


def ladders(exceptions: Any, alerts: Any, clock: Clock) -> dict[str, Any]:
    by_exception: dict[str, dict[str, datetime]] = defaultdict(dict)
    for a in alerts:
        if a.exception_id:
            by_exception[a.exception_id].setdefault(a.kind, a.raised_at)
    now = datetime.now(tz=exceptions[0].raised_at.tzinfo) if exceptions else None
    late = timedelta(seconds=LATE_REAL_S)
    problems = []
    reminded = escalated = 0
    worst = 0.0
    for e in exceptions:
        got = by_exception.get(e.exception_id, {})
        first = min(got.values()) if got else None
        if first is None or (first - e.raised_at).total_seconds() * clock.speed > ALERT_WITHIN_S:
            problems.append(f"{e.exception_id} ({e.kind}) alerted {'never' if first is None else 'late'}")
        ended = e.resolved_at or now
        assert ended is not None
        for kind, after_s in (("exception_reminder", REMIND_S), ("exception_escalated", REMIND_S + ESCALATE_S)):
            due = e.raised_at + timedelta(seconds=clock.real_s(after_s))
            if kind in got:
                reminded += kind == "exception_reminder"
                escalated += kind == "exception_escalated"
                worst = max(worst, (got[kind] - due).total_seconds())
                if got[kind] < due - timedelta(seconds=1) or got[kind] > due + late:
                    problems.append(f"{e.exception_id}: {kind} at {got[kind]}, due {due}")
            elif ended > due + late:
                problems.append(f"{e.exception_id} ({e.kind}) open past its {kind} with none")
    return _result(
        problems,
        exceptions=len(exceptions),
        reminders=reminded,
        escalations=escalated,
        latest_rung_real_seconds=round(worst, 1),
    )


def promises(kpis: dict[str, Any]) -> dict[str, Any]:
    warning = kpis["kpis"]["early_warning"]
    breaches = warning["breaches"]
    unwarned = kpis.get("breaches_unwarned", [])
    problems = [f"{order_id} broke its promise without a warning before" for order_id in unwarned]
    return _result(problems, breaches=breaches, warned=warning["warned"])


def manual(day: Day, kpis: dict[str, Any]) -> dict[str, Any]:
    """Manual intervention at most the share of orders given a fault a person must decide on, plus 1 point;
    every touched order is listed in the report with its reasons."""
    touched = kpis["touched_orders"]
    share = sum(1 for o in day.orders if day.person_fault(o)) / len(day.orders)
    rate = len(touched) / len(day.orders)
    problems = (
        [f"manual intervention {100 * rate:.1f} % > {100 * share:.1f} % + 1 point"] if rate > share + 0.01 else []
    )
    planned = {o.order_id: o for o in day.orders}
    unexpected = sorted(o for o in touched if o not in planned or day.person_fault(planned[o]) is None)
    return _result(
        problems, rate=round(rate, 4), allowed=round(share + 0.01, 4), touched=len(touched), without_fault=unexpected
    )


def webhooks(deliveries: Any, received: set[str]) -> dict[str, Any]:
    """The subscriber offline for a while loses nothing: no delivery dead-lettered, every delivered event
    reached it; some may still be waiting for their next retry."""
    statuses = Counter(status for _, status in deliveries)
    problems = [f"{statuses['failed']} deliveries dead-lettered"] if statuses.get("failed") else []
    missing = sorted(event_id for event_id, status in deliveries if status == "delivered" and event_id not in received)
    problems += [f"event {event_id} marked delivered but never received" for event_id in missing]
    return _result(problems, deliveries=dict(statuses), received=len(received))
