"""The day's score, computed by the KPI code: the facts as store/kpis.py reads them from the read model,
moved onto the simulated day's clock (a real second is `speed` simulated seconds), and the figures as
domain/kpis.py computes them. GET /v1/kpis over the same orders is asked too, as a check that the counts
agree (its times are real ones, so only the counts compare)."""

from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from domain.kpis import Action, ExceptionFacts, Facts, compute
from rehearsal.clock import Clock
from store import kpis

# What the product is measured against: a typical OMS before, and after a good one (issue 19).
REFERENCE = {
    "cycle_time_hours": (38.0, 18.0),
    "manual_intervention_pct": (61.0, 17.0),
    "error_pct": (8.2, 1.3),
    "orders_per_person_per_day": (43.0, 112.0),
    "exception_response_minutes": (6.5 * 60, 47.0),
}


def on_day(facts: Facts, clock: Clock) -> Facts:
    def at(value: datetime | None) -> datetime | None:
        return clock.sim(value) if value is not None else None

    def sure(value: datetime) -> datetime:
        return clock.sim(value)

    return Facts(
        orders=[
            replace(
                o,
                received_at=sure(o.received_at),
                ship_by=at(o.ship_by),
                shipped_at=at(o.shipped_at),
                delivered_at=at(o.delivered_at),
                first_warning_at=at(o.first_warning_at),
            )
            for o in facts.orders
        ],
        exceptions=[
            ExceptionFacts(e.kind, sure(e.raised_at), at(e.first_human_action_at), at(e.resolved_at))
            for e in facts.exceptions
        ],
        completions=[sure(c) for c in facts.completions],
        actions=[Action(sure(a.at), a.actor) for a in facts.actions],
    )


async def read_facts(db: AsyncEngine, start: datetime, end: datetime) -> Facts:
    async with async_sessionmaker(db)() as session:
        return await kpis.facts(session, kpis.KpiFilter(start, end))


async def score(db: AsyncEngine, http: httpx.AsyncClient, clock: Clock) -> dict[str, Any]:
    start = datetime.fromtimestamp(clock.real_start, UTC) - timedelta(minutes=10)  # the seeding is before it
    end = datetime.now(UTC) + timedelta(seconds=1)
    real = await read_facts(db, start, end)
    day = on_day(real, clock)
    figures = compute(day, clock.sim(end))
    api = (await http.get("/v1/kpis", params={"from": start.isoformat(), "to": end.isoformat()})).json()
    now = clock.sim(end)
    unwarned = [
        o.order_id
        for o in day.orders
        if o.ship_by is not None
        and (
            (o.shipped_at is not None and o.shipped_at > o.ship_by)
            or (o.shipped_at is None and o.status != "cancelled" and now > o.ship_by)
        )
        and (o.first_warning_at is None or o.first_warning_at >= o.ship_by)
    ]
    touches: dict[str, list[str]] = {o.order_id: sorted(o.touches) for o in day.orders if o.touches}
    responses = [
        (e.first_human_action_at - e.raised_at).total_seconds() / 60
        for e in day.exceptions
        if e.first_human_action_at is not None
    ]
    return {
        "kpis": asdict(figures),
        "touched_orders": touches,
        "breaches_unwarned": unwarned,
        "exception_response_minutes_all": _p(responses),
        "api_counts": {
            "orders": api.get("kpis", {}).get("orders"),
            "manual_intervention": api.get("kpis", {}).get("manual_intervention", {}).get("numerator"),
            "errors": api.get("kpis", {}).get("errors", {}).get("numerator"),
        },
        "hourly": hourly(day),
        "window": {"from": start.isoformat(), "to": end.isoformat()},
        "reference": REFERENCE,
    }


def _p(values: list[float]) -> dict[str, float | None]:
    from domain.kpis import percentile

    return {"count": len(values), "p50": percentile(values, 50), "p90": percentile(values, 90)}


def hourly(day: Facts) -> dict[str, list[int]]:
    """Per simulated hour from the opening: orders received, orders completed, exceptions raised."""
    from rehearsal.clock import OPENING

    def hour(at: datetime) -> int:
        return max(0, int((at - OPENING).total_seconds() // 3600))

    received = [hour(o.received_at) for o in day.orders]
    completed = [hour(c) for c in day.completions]
    raised = [hour(e.raised_at) for e in day.exceptions]
    size = 1 + max([0, *received, *completed, *raised])
    return {
        name: [values.count(h) for h in range(size)]
        for name, values in (("received", received), ("completed", completed), ("exceptions", raised))
    }
