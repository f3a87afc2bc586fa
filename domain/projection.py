"""Projected stock, the stockout warning and replenishment suggestions: pure, many series at once.

Stock is projected hour by hour from now: available now, minus the forecast demand (each day's spread
evenly over its hours), plus each inbound on its expected hour. Two projections are made:

- at the forecast demand: `stockout_at`, the time shown to people;
- at low demand (cumulative forecast - z*sigma*sqrt(days), z from `alert_confidence`): `sure_stockout_at`, the
  time by which stock runs out even if demand keeps to the low side of its usual error.

A warning is raised when the sure stockout falls within lead time + warning hours, and cleared only
when the expected stockout no longer does (or there is none): a projection hovering at the edge of the
window raises one warning, not one a day. Raising on the low-demand projection is what keeps false
alarms rare: the alert says "this runs out within the window", not "this might".
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray

from domain.forecast import first_demand

Matrix = NDArray[np.float64]


@dataclass(frozen=True)
class StockPolicy:
    lead_time_days: float = 7.0
    lead_time_sd_days: float = 0.0  # spread of lead times, where known
    warning_hours: float = 48.0
    # The low-demand projection: cumulative demand is this likely to be above it. Intermittent demand
    # runs out in one order's lump, which no projection sees coming with certainty: its own, lower level.
    alert_confidence: float = 0.9
    intermittent_alert_confidence: float = 0.55
    service_level: float = 0.95
    target_cover_days: float = 14.0


@dataclass(frozen=True)
class ArrivingStock:
    at: datetime
    quantity: int


@dataclass(frozen=True)
class Outlook:
    available: int
    inbound: int  # open inbound within the horizon
    stockout_at: datetime | None
    sure_stockout_at: datetime | None
    at_risk: bool  # a warning should be open (see `keep_warning`)
    reorder_point: int
    safety_stock: int
    suggested_quantity: int
    lead_time_demand: float
    stockout_chance: float | None = None  # intermittent demand: of running out within the window


def _z(p: float) -> float:
    return NormalDist().inv_cdf(min(max(p, 0.5), 0.9999))


def _hourly_arrivals(now: datetime, inbound: list[list[ArrivingStock]], hours: int) -> Matrix:
    arrivals = np.zeros((len(inbound), hours))
    for row, items in enumerate(inbound):
        for item in items:
            hour = max(0, math.ceil((item.at - now).total_seconds() / 3600))
            if hour < hours:
                arrivals[row, hour] += item.quantity
    return arrivals


def stockout_chance(recent: Matrix, checkpoints: list[tuple[float, float]]) -> float:
    """The chance that demand empties the shelf before one of the checkpoints, (days from now, units on
    hand plus what arrived by then), with days of demand drawn independently from `recent` days as they
    came (the empirical distribution, zeros and lumps as they are: no normal curve for lumpy demand).
    The largest chance over the checkpoints, a lower bound of the chance of any."""
    values = np.maximum(np.rint(recent), 0).astype(np.int64)
    if values.size == 0 or values.max() == 0:
        return 0.0
    one_day = np.bincount(values) / values.size
    chance = 0.0
    total = np.array([1.0])
    done = 0
    for days, units in sorted(checkpoints):
        whole = max(math.ceil(days), 0)
        while done < whole:
            total = np.convolve(total, one_day)
            done += 1
        need = max(math.ceil(units), 0)
        chance = max(chance, min(float(total[need:].sum()), 1.0) if need < total.size else 0.0)
    return chance


def _first_out(stock: Matrix, has_demand: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Per row, the first hour nothing is left of a SKU that has demand, or -1."""
    out = (stock <= 1e-9) & has_demand[:, None]
    first = np.argmax(out, axis=1)
    return np.where(out.any(axis=1), first, -1)


def project(
    now: datetime,
    available: list[int],
    daily: Matrix,
    sigma: Matrix,
    inbound: list[list[ArrivingStock]],
    policies: list[StockPolicy],
    intermittent: list[bool],
    warning_open: list[bool] | None = None,
    recent: Matrix | None = None,
) -> list[Outlook]:
    """`daily[:, 0]` is today's forecast demand (the UTC day `now` falls in); `intermittent` says which
    rows have mostly-zero demand (forecast.Pattern INTERMITTENT or LUMPY). For those, `recent` (each
    row's last days of demand) gives the chance of running out within the window, which raises their
    warning instead of the low-demand projection."""
    n, horizon = daily.shape
    hours = max(horizon - 1, 1) * 24
    start_hour = now.hour + now.minute / 60
    day_of_hour = ((start_hour + np.arange(hours)) // 24).astype(np.int64)
    rate = daily[:, np.minimum(day_of_hour, horizon - 1)] / 24
    demanded = np.cumsum(rate, axis=1)
    days_out = (np.arange(hours) + 1) / 24
    z_alert = np.array(
        [
            _z(p.intermittent_alert_confidence if lumpy else p.alert_confidence)
            for p, lumpy in zip(policies, intermittent, strict=True)
        ]
    )
    low = np.maximum(demanded - z_alert[:, None] * sigma[:, None] * np.sqrt(days_out)[None, :], 0.0)
    arrived = np.cumsum(_hourly_arrivals(now, inbound, hours), axis=1)
    base = np.asarray(available, dtype=np.float64)[:, None] + arrived
    has_demand = daily.sum(axis=1) > 0
    expected_out = _first_out(base - demanded, has_demand)
    sure_out = _first_out(base - low, has_demand)
    opened = warning_open or [False] * n
    outlooks = []
    for i, policy in enumerate(policies):
        window = policy.lead_time_days * 24 + policy.warning_hours
        expected = int(expected_out[i])
        sure = int(sure_out[i])
        expected_within = expected >= 0 and expected + 1 <= window
        sure_within = sure >= 0 and sure + 1 <= window
        chance = None
        if intermittent[i] and recent is not None:
            row = recent[i]
            since_first = row[int(first_demand(row[None, :])[0]) :]  # a SKU not sold yet: those days do not count
            chance = stockout_chance(since_first, _checkpoints(now, available[i], inbound[i], window / 24))
            sure_within = chance >= policy.intermittent_alert_confidence
        lead = policy.lead_time_days
        mean_daily = _mean_over(daily[i], lead)
        safety = _z(policy.service_level) * math.sqrt(
            lead * float(sigma[i]) ** 2 + mean_daily**2 * policy.lead_time_sd_days**2
        )
        lead_demand = mean_daily * lead
        reorder_point = math.ceil(lead_demand + safety)
        position = available[i] + sum(a.quantity for a in inbound[i])
        order_up_to = reorder_point + mean_daily * policy.target_cover_days
        suggested = max(0, math.ceil(order_up_to - position)) if position <= reorder_point else 0
        outlooks.append(
            Outlook(
                available=available[i],
                inbound=int(arrived[i, -1]),
                stockout_at=now + timedelta(hours=expected + 1) if expected >= 0 else None,
                sure_stockout_at=now + timedelta(hours=sure + 1) if sure >= 0 else None,
                at_risk=sure_within or (opened[i] and expected_within),
                reorder_point=reorder_point,
                safety_stock=math.ceil(safety),
                suggested_quantity=suggested,
                lead_time_demand=round(lead_demand, 2),
                stockout_chance=None if chance is None else round(chance, 3),
            )
        )
    return outlooks


def _checkpoints(
    now: datetime, available: int, inbound: list[ArrivingStock], window_days: float
) -> list[tuple[float, float]]:
    """Just before each arrival within the window, and at its end: (days from now, units by then)."""
    points = []
    arrived = 0
    for item in sorted(inbound, key=lambda a: a.at):
        days = (item.at - now).total_seconds() / 86400
        if days >= window_days:
            break
        points.append((max(days, 0.0), float(available + arrived)))
        arrived += item.quantity
    points.append((window_days, float(available + arrived)))
    return points


def _mean_over(daily: Matrix, days: float) -> float:
    whole = max(1, min(len(daily), math.ceil(days)))
    return float(np.mean(daily[:whole]))
