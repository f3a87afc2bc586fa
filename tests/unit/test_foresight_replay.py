"""A synthetic 120-day history for 60 SKUs, replayed day by day through the real forecasting code.

Four kinds of demand (smooth, trending, intermittent, seasonal-weekly), 15 SKUs each, Poisson noise;
every morning the forecast is made from the days so far, stock is projected with the inbound that is
known, and a warning is raised or cleared exactly as the forecasting run does it. Then the day's demand
happens hour by hour. Some SKUs have inbound that arrives before they would run out, some too late.

Scored: of the stockouts that happen (each run-out, with at least 48 h of the replay before it), the
share that had an open warning 48 h or more before; of the warnings raised (with lead time + 48 h of
replay after them to judge), the share after which stock did not run out within lead time + 48 h.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from domain.forecast import Pattern, forecast_many
from domain.projection import ArrivingStock, StockPolicy, project

DAYS = 120
WARMUP = 56  # days of history before the first morning that is scored
START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
RECENT = 120  # days of recent demand the chance of running out is drawn from
KINDS = ("smooth", "trending", "intermittent", "seasonal")
PER_KIND = 15


@dataclass
class Sku:
    kind: str
    demand: np.ndarray  # units per day, all 120 days
    stock: float  # at the first scored morning
    lead_days: float
    inbound: list[tuple[int, int]] = field(default_factory=list)  # (day, quantity): arrives at noon


def demand_of(kind: str, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(DAYS)
    if kind == "smooth":
        rate = np.full(DAYS, rng.uniform(4, 30))
    elif kind == "trending":
        base, growth = rng.uniform(4, 15), rng.uniform(-0.004, 0.012)
        rate = base * np.maximum(1 + growth * t, 0.2)
    elif kind == "intermittent":
        chance, size = rng.uniform(0.1, 0.3), rng.uniform(2, 8)
        return np.where(rng.random(DAYS) < chance, 1 + rng.poisson(size, DAYS), 0).astype(float)
    else:
        weekly = np.array([0.6, 0.8, 0.9, 1.0, 1.2, 1.7, 0.8])  # Monday first
        rate = rng.uniform(5, 25) * weekly[t % 7]
    return rng.poisson(rate).astype(float)


def make_skus(seed: int = 17) -> list[Sku]:
    rng = np.random.default_rng(seed)
    skus = []
    for kind in KINDS:
        for i in range(PER_KIND):
            demand = demand_of(kind, rng)
            mean = max(float(demand[:WARMUP].mean()), 0.2)
            cover = rng.uniform(8, 50)  # days of demand on hand at the start
            sku = Sku(kind, demand, stock=round(mean * cover), lead_days=float(rng.choice([3, 5, 7])))
            would_run_out = WARMUP + int(np.searchsorted(np.cumsum(demand[WARMUP:]), sku.stock))
            if i % 3 == 1:  # inbound in time: before it would run out
                sku.inbound.append((max(WARMUP + 1, would_run_out - int(rng.integers(2, 8))), round(mean * 25)))
            elif i % 3 == 2:  # inbound too late: after it has run out
                sku.inbound.append((would_run_out + int(rng.integers(2, 9)), round(mean * 25)))
            skus.append(sku)
    return skus


@dataclass
class Score:
    stockouts: int = 0  # every run-out
    warned_48h: int = 0
    skus_out: int = 0  # SKUs that ran out (their first run-out)
    skus_warned_48h: int = 0
    warnings: int = 0
    false_warnings: int = 0


def replay(skus: list[Sku]) -> Score:
    n = len(skus)
    position = np.array([s.stock for s in skus], dtype=float)  # on hand minus backorders
    policies = [StockPolicy(lead_time_days=s.lead_days) for s in skus]
    raised: list[list[tuple[datetime, datetime | None]]] = [[] for _ in skus]  # per SKU: (raised, cleared)
    outs: list[list[datetime]] = [[] for _ in skus]
    history = np.stack([s.demand for s in skus])
    mornings = np.zeros((n, DAYS))
    for day in range(WARMUP, DAYS):
        now = START + timedelta(days=day)
        mornings[:, day] = position
        forecasts = forecast_many(history[:, :day], START.weekday())
        daily = np.array([f.daily for f in forecasts])
        sigma = np.array([f.sigma for f in forecasts])
        inbound = [
            [ArrivingStock(START + timedelta(days=d, hours=12), q) for d, q in s.inbound if d >= day] for s in skus
        ]
        open_now = [bool(r) and r[-1][1] is None for r in raised]
        lumpy = [f.pattern in (Pattern.INTERMITTENT, Pattern.LUMPY) for f in forecasts]
        outlooks = project(
            now,
            [int(p) for p in np.floor(position)],
            daily,
            sigma,
            inbound,
            policies,
            lumpy,
            open_now,
            history[:, max(0, day - RECENT) : day],
        )
        for i, outlook in enumerate(outlooks):
            if outlook.at_risk and not open_now[i]:
                raised[i].append((now, None))
            elif not outlook.at_risk and open_now[i]:
                raised[i][-1] = (raised[i][-1][0], now)
        for hour in range(24):
            for i, sku in enumerate(skus):
                before = position[i]
                if hour == 12:
                    position[i] += sum(q for d, q in sku.inbound if d == day)
                position[i] -= sku.demand[day] / 24
                if before > 0 >= position[i] and sku.demand[day] > 0:
                    outs[i].append(now + timedelta(hours=hour + 1))
    end = START + timedelta(days=DAYS)
    first_morning = START + timedelta(days=WARMUP)
    score = Score()
    for i in range(n):
        scored = [out for out in outs[i] if out - first_morning >= timedelta(hours=48)]
        for k, out in enumerate(scored):
            warned = any(r <= out - timedelta(hours=48) and (c is None or c >= out) for r, c in raised[i])
            score.stockouts += 1
            score.warned_48h += warned
            if k == 0:
                score.skus_out += 1
                score.skus_warned_48h += warned
        window = timedelta(days=skus[i].lead_days, hours=48)
        for r, _ in raised[i]:
            if r + window > end:
                continue
            score.warnings += 1
            already_out = mornings[i, (r - START).days] <= 0
            if not already_out and not any(r <= o <= r + window for o in outs[i]):
                score.false_warnings += 1
    return score


# Five independent 60-SKU histories scored together (300 SKUs): one 60-SKU history moves the figures by
# a couple of points either way. The confidence settings were chosen on seeds 1-5, never on these.
SEEDS = (17, 18, 19, 20, 21)


def test_most_stockouts_are_warned_48_hours_ahead_with_few_false_warnings() -> None:
    total = Score()
    for seed in SEEDS:
        score = replay(make_skus(seed))
        for name in vars(total):
            setattr(total, name, getattr(total, name) + getattr(score, name))
    skus_warned = total.skus_warned_48h / total.skus_out
    warned = total.warned_48h / total.stockouts
    false = total.false_warnings / total.warnings
    print(
        f"\nforesight replay: {len(SEEDS)} x {len(KINDS) * PER_KIND} SKUs, {DAYS} days. "
        f"SKUs that ran out {total.skus_out}, warned >= 48 h ahead {total.skus_warned_48h} ({skus_warned:.1%}); "
        f"every run-out {total.stockouts}, warned >= 48 h ahead {total.warned_48h} ({warned:.1%}); "
        f"warnings {total.warnings}, false {total.false_warnings} ({false:.1%})"
    )
    assert total.skus_out >= 100 and total.warnings >= 100  # the replay has something to judge
    assert skus_warned >= 0.90
    assert false <= 0.10
