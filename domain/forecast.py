"""Demand forecasting per SKU x warehouse: daily buckets, many series at once, numpy only, no I/O.

A batch of series is a matrix (one row per SKU x warehouse, one column per day, oldest first). The
demand's pattern picks the family of method (Syntetos-Boylan: average demand interval ADI and the
squared coefficient of variation CV² of the non-zero days):

- smooth or erratic (demand on most days): simple exponential smoothing or a damped additive trend,
  each with or without a weekly profile; of these four, the one with the lower error on an earlier
  four weeks is used (so the error reported is measured on weeks the choice did not see);
- intermittent or lumpy (most days zero): Croston's method with the Syntetos-Boylan correction (SBA);
- no demand at all: zero.

Every forecast carries its backtest: the chosen method fitted without the last `backtest_days` days
forecasts them, and MAE and bias (forecast - actual, per day) are measured against what happened.
"""

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

Matrix = NDArray[np.float64]

ADI_CUT = 1.32
CV2_CUT = 0.49
WARMUP_DAYS = 7


class Pattern(StrEnum):
    SMOOTH = "smooth"
    ERRATIC = "erratic"
    INTERMITTENT = "intermittent"
    LUMPY = "lumpy"
    NONE = "none"


class Method(StrEnum):
    SES = "ses"
    SES_WEEKLY = "ses_weekly"
    DAMPED_TREND = "damped_trend"
    DAMPED_TREND_WEEKLY = "damped_trend_weekly"
    SBA = "sba"
    ZERO = "zero"


SMOOTH_METHODS = (Method.SES, Method.SES_WEEKLY, Method.DAMPED_TREND, Method.DAMPED_TREND_WEEKLY)


@dataclass(frozen=True)
class ForecastParams:
    horizon_days: int = 28
    backtest_days: int = 28
    alphas: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3, 0.5)
    sba_alphas: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3)
    trend_beta: float = 0.1
    damping: float = 0.9
    season_weeks: int = 8


@dataclass(frozen=True)
class Forecast:
    pattern: Pattern
    method: Method
    daily: tuple[float, ...]  # day 0 is the day after the history's last day
    sigma: float  # the standard deviation of one day's forecast error (from the backtest)
    mae: float  # backtest: mean absolute error per day
    bias: float  # backtest: mean of forecast - actual per day; above zero over-forecasts
    adi: float
    cv2: float
    history_days: int


def first_demand(history: Matrix) -> NDArray[np.int64]:
    """Per row, where its history starts: the first day with demand when the days before it are far
    more than its usual gap (more than 3 x its ADI from there on: a SKU not sold yet), else 0 (a
    quiet start of a SKU that was on sale: those zeros are demand history too)."""
    positive = history > 0
    first = np.argmax(positive, axis=1)
    gap = (history.shape[1] - first) / np.maximum(positive.sum(axis=1), 1)
    started: NDArray[np.int64] = np.where(first > 3 * gap, first, 0)
    return started


def classify(history: Matrix) -> tuple[list[Pattern], Matrix, Matrix]:
    """Each row's pattern with its ADI (days per demand day, from its first) and CV² of the demand
    days' sizes."""
    days = history.shape[1] - first_demand(history)
    positive = history > 0
    demand_days = positive.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        adi = np.where(demand_days > 0, days / np.maximum(demand_days, 1), np.inf)
        sizes = np.where(positive, history, np.nan)
        mean = np.nanmean(np.where(demand_days[:, None] > 0, sizes, 0.0), axis=1)
        var = np.nanvar(np.where(demand_days[:, None] > 0, sizes, 0.0), axis=1)
        cv2 = np.where(mean > 0, var / np.maximum(mean, 1e-12) ** 2, 0.0)
    patterns = [
        Pattern.NONE
        if n == 0
        else (Pattern.SMOOTH if c < CV2_CUT else Pattern.ERRATIC)
        if a < ADI_CUT
        else (Pattern.INTERMITTENT if c < CV2_CUT else Pattern.LUMPY)
        for n, a, c in zip(demand_days.tolist(), adi.tolist(), cv2.tolist(), strict=True)
    ]
    return patterns, adi, cv2


def _weekly_profile(history: Matrix, first_weekday: int, weeks: int) -> Matrix:
    """Per row, 7 multipliers (Monday first) averaging 1, from the last `weeks` whole weeks."""
    n, days = history.shape
    span = min(days, weeks * 7) // 7 * 7
    profile = np.ones((n, 7))
    if span < 14:
        return profile
    recent = history[:, days - span :]
    weekday = (first_weekday + days - span + np.arange(span)) % 7
    by_day = np.stack([recent[:, weekday == d].mean(axis=1) for d in range(7)], axis=1)
    level = by_day.mean(axis=1, keepdims=True)
    return np.where(level > 0, by_day / np.maximum(level, 1e-12), 1.0)


def _seasonal(profile: Matrix, first_weekday: int, start: int, count: int) -> Matrix:
    weekday = (first_weekday + start + np.arange(count)) % 7
    return profile[:, weekday]


def _initial_level(y: Matrix) -> Matrix:
    level: Matrix = y[:, : min(WARMUP_DAYS, y.shape[1])].mean(axis=1)
    return level


def _ses(y: Matrix, alpha: Matrix) -> tuple[Matrix, Matrix]:
    """One-step-ahead fits and the final level, for per-row smoothing constants."""
    level = _initial_level(y)
    fitted = np.empty_like(y)
    for t in range(y.shape[1]):
        fitted[:, t] = level
        level = alpha * y[:, t] + (1 - alpha) * level
    return fitted, level


def _damped(y: Matrix, alpha: Matrix, beta: float, phi: float) -> tuple[Matrix, Matrix, Matrix]:
    level = _initial_level(y)
    trend = np.zeros(y.shape[0])
    fitted = np.empty_like(y)
    for t in range(y.shape[1]):
        fitted[:, t] = level + phi * trend
        new_level = alpha * y[:, t] + (1 - alpha) * (level + phi * trend)
        trend = beta * (new_level - level) + (1 - beta) * phi * trend
        level = new_level
    return fitted, level, trend


def _sba(y: Matrix, alpha: Matrix) -> tuple[Matrix, Matrix]:
    """Croston with the Syntetos-Boylan correction: demand size and interval smoothed apart."""
    positive = y > 0
    demand_days = positive.sum(axis=1)
    first = first_demand(y)
    size = np.where(positive, y, 0.0).sum(axis=1) / np.maximum(demand_days, 1)
    interval = np.maximum((y.shape[1] - first) / np.maximum(demand_days, 1), 1.0)
    since = 1.0 - first  # counts from the first demand

    fitted = np.empty_like(y)
    for t in range(y.shape[1]):
        fitted[:, t] = (1 - alpha / 2) * size / interval
        hit = positive[:, t]
        size = np.where(hit, size + alpha * (y[:, t] - size), size)
        interval = np.where(hit, interval + alpha * (since - interval), interval)
        since = np.where(hit, 1.0, since + 1)
    return fitted, (1 - alpha / 2) * size / interval


def _best_alpha(y: Matrix, alphas: tuple[float, ...], fit: str, params: ForecastParams) -> Matrix:
    """Per row, the smoothing constant with the least one-step-ahead squared error after the warm-up."""
    errors = []
    for a in alphas:
        alpha = np.full(y.shape[0], a)
        if fit == "ses":
            fitted = _ses(y, alpha)[0]
        elif fit == "damped":
            fitted = _damped(y, alpha, params.trend_beta, params.damping)[0]
        else:
            fitted = _sba(y, alpha)[0]
        errors.append(((fitted - y)[:, WARMUP_DAYS:] ** 2).sum(axis=1))
    best: Matrix = np.asarray(alphas, dtype=np.float64)[np.argmin(np.stack(errors, axis=1), axis=1)]
    return best


def _predict(y: Matrix, method: Method, first_weekday: int, horizon: int, params: ForecastParams) -> Matrix:
    """Fit `method` on every row of `y` and forecast the next `horizon` days."""
    n, days = y.shape
    if method is Method.ZERO or days == 0:
        return np.zeros((n, horizon))
    if method is Method.SBA:
        rate = _sba(y, _best_alpha(y, params.sba_alphas, "sba", params))[1]
        return np.repeat(rate[:, None], horizon, axis=1)
    weekly = method in (Method.SES_WEEKLY, Method.DAMPED_TREND_WEEKLY)
    profile = _weekly_profile(y, first_weekday, params.season_weeks) if weekly else np.ones((n, 7))
    plain = y / np.maximum(_seasonal(profile, first_weekday, 0, days), 1e-6)
    ahead = _seasonal(profile, first_weekday, days, horizon)
    if method in (Method.SES, Method.SES_WEEKLY):
        level = _ses(plain, _best_alpha(plain, params.alphas, "ses", params))[1]
        return np.maximum(level[:, None] * ahead, 0.0)
    alpha = _best_alpha(plain, params.alphas, "damped", params)
    _, level, trend = _damped(plain, alpha, params.trend_beta, params.damping)
    damp = np.cumsum(params.damping ** np.arange(1, horizon + 1))
    return np.maximum((level[:, None] + trend[:, None] * damp[None, :]) * ahead, 0.0)


def _holdout_mae(y: Matrix, method: Method, first_weekday: int, days: int, params: ForecastParams) -> Matrix:
    cut = y.shape[1] - days
    mae: Matrix = np.abs(_predict(y[:, :cut], method, first_weekday, days, params) - y[:, cut:]).mean(axis=1)
    return mae


def forecast_many(history: Matrix, first_weekday: int, params: ForecastParams | None = None) -> list[Forecast]:
    """Forecast each row of `history` (demand per day, oldest first; its first day is `first_weekday`,
    Monday 0). The horizon's day 0 is the day after the history's last."""
    params = params or ForecastParams()
    y = np.array(history, dtype=np.float64)
    n, days = y.shape
    patterns, adi, cv2 = classify(y)
    # A SKU first sold within the history: for smooth demand, its days before that take the level of
    # its first two weeks, so the smoothing starts from there rather than climbing out of zero.
    first = first_demand(y)
    for i in np.nonzero(first)[0]:
        if patterns[i] in (Pattern.SMOOTH, Pattern.ERRATIC):
            y[i, : first[i]] = y[i, first[i] : first[i] + 14].mean()
    backtest = min(params.backtest_days, max(days - 2 * WARMUP_DAYS, 0))
    methods = [Method.ZERO if p is Pattern.NONE else Method.SBA for p in patterns]
    smooth = np.array([p in (Pattern.SMOOTH, Pattern.ERRATIC) for p in patterns], dtype=bool)
    if smooth.any():
        rows = y[smooth]
        # Choose on the weeks before the backtest window when there are enough; else on the window itself.
        select_on = rows[:, : days - backtest] if days - 2 * backtest >= 2 * WARMUP_DAYS else rows
        scores = np.stack([_holdout_mae(select_on, m, first_weekday, backtest, params) for m in SMOOTH_METHODS])
        chosen = iter(np.argmin(scores, axis=0).tolist())
        methods = [
            SMOOTH_METHODS[next(chosen)] if is_smooth else m for m, is_smooth in zip(methods, smooth, strict=True)
        ]
    daily = np.zeros((n, params.horizon_days))
    mae, bias, sigma = np.zeros(n), np.zeros(n), np.zeros(n)
    for method in set(methods):
        rows_of = np.array([m is method for m in methods], dtype=bool)
        rows = y[rows_of]
        daily[rows_of] = _predict(rows, method, first_weekday, params.horizon_days, params)
        if backtest > 0:
            cut = days - backtest
            error = _predict(rows[:, :cut], method, first_weekday, backtest, params) - rows[:, cut:]
            mae[rows_of] = np.abs(error).mean(axis=1)
            bias[rows_of] = error.mean(axis=1)
            sigma[rows_of] = np.sqrt((error**2).mean(axis=1))
    return [
        Forecast(
            pattern=patterns[i],
            method=methods[i],
            daily=tuple(round(float(v), 4) for v in daily[i]),
            sigma=float(sigma[i]),
            mae=float(mae[i]),
            bias=float(bias[i]),
            adi=float(adi[i]) if np.isfinite(adi[i]) else 0.0,
            cv2=float(cv2[i]),
            history_days=days,
        )
        for i in range(n)
    ]
