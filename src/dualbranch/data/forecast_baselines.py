"""The seasonal naive forecast and the seasonal period it repeats: the baseline every forecaster must beat.

Seasonal naive (Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*, §5.2) forecasts
each step with the value one season earlier: for a look-back x (L, C) and period m ≤ L, step h
(1-based) of the horizon is x[L − m + (h − 1) mod m]. With m = 1 it is the naive (last value)
forecast.

The period comes from the time column when it is a calendar step (15 minutes: 96 a day; hourly:
24; daily: 7; monthly: 12; quarterly: 4; ...), else from the data: the lag in 2..``max_period``
with the largest autocorrelation of the training rows (mean over variables), if that correlation is
clearly positive; else 1.

Shape legend: N windows, L look-back, H horizon, C variables, C_t targets, T rows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError

__all__ = ["calendar_season", "cycle_season", "infer_season", "seasonal_naive"]

_DAY = 24 * 3600.0
_MIN_CORRELATION = 0.2  # below this the "season" found in the data is noise: use the naive forecast
_MIN_CYCLE_CORRELATION = 0.3  # of the differences, for a short series (cycle_season): its noise is larger
_QUARTER = re.compile(r"^\d{4}\s*-?Q[1-4]$", re.IGNORECASE)


def calendar_season(timestamps: Sequence[str] | np.ndarray | None) -> int | None:
    """The seasonal period implied by a time column's typical step, or None (no calendar step).

    A step dividing a day gives the steps per day (10 min: 144, 15 min: 96, 30 min: 48, hourly: 24);
    daily steps give a week (7), weekly a year (52), monthly 12, quarterly 4; a step under a minute
    (sensor data) or anything else gives None.
    """
    if timestamps is None or len(timestamps) < 3:
        return None
    stamps = [str(s) for s in timestamps]
    if all(_QUARTER.match(s.strip()) for s in stamps[:3]):
        return 4  # "1970 Q1": pandas reads quarters as periods, not as dates
    try:
        import pandas as pd

        times = pd.to_datetime(pd.Series(stamps), format="mixed")
    except (ImportError, ValueError, TypeError, OverflowError):
        return None
    seconds = float(times.diff().dropna().dt.total_seconds().median())
    if not seconds >= 60:
        return None
    if seconds < _DAY and (_DAY / seconds).is_integer():
        return int(_DAY / seconds)
    days = seconds / _DAY
    for low, high, season in ((1, 1, 7), (7, 7, 52), (28, 31, 12), (89, 92, 4)):
        if low <= days <= high:
            return season
    return None


def infer_season(values: np.ndarray, timestamps: Sequence[str] | np.ndarray | None = None, max_period: int = 96) -> int:
    """The seasonal period of a table's training rows ``values`` (T, C): the calendar one when the time
    column has one (:func:`calendar_season`, used if ≤ ``max_period``), else the most autocorrelated lag
    in 2..``max_period`` (mean over the standardised variables) when its correlation exceeds 0.2, else 1."""
    season = calendar_season(timestamps)
    if season is not None and season <= max_period:
        return season
    values = np.asarray(values, dtype=np.float64)
    top = min(max_period, len(values) // 2)
    if top < 2:
        return 1
    z = (values - values.mean(axis=0)) / np.where(values.std(axis=0) > 0, values.std(axis=0), 1.0)
    lags = np.arange(2, top + 1)
    correlation = np.array([np.mean(z[lag:] * z[:-lag]) for lag in lags])
    best = int(np.argmax(correlation))
    return int(lags[best]) if correlation[best] > _MIN_CORRELATION else 1


def cycle_season(values: np.ndarray, max_period: int) -> int:
    """The cycle of a short series' rows ``values`` (T, C): the first lag in 2..``max_period`` (and at most a
    third of T: a cycle seen three times) where the
    autocorrelation of the first differences (a trend removed; mean over the standardised variables)
    peaks, higher than at the lags either side and above 0.3; else 1. The first peak, not the highest:
    a cycle's multiples peak too (Lynx's 9–10-year cycle also near 19 and 38 years); the differences,
    not the levels: a trend or a persistent level (the Nile's flow) keeps every level autocorrelation
    high and hides the cycle (Airline's 12 months) or makes one up."""
    steps = np.diff(np.asarray(values, dtype=np.float64), axis=0)
    top = min(max_period, len(steps) // 3)  # a cycle seen at least three times
    if top < 3:
        return 1
    std = steps.std(axis=0)
    z = (steps - steps.mean(axis=0)) / np.where(std > 0, std, 1.0)
    correlation = np.array([np.mean(z[lag:] * z[:-lag]) for lag in range(1, top + 2)])  # lags 1..top + 1
    for lag in range(2, top + 1):
        here = correlation[lag - 1]
        if here > _MIN_CYCLE_CORRELATION and here > correlation[lag - 2] and here >= correlation[lag]:
            return lag
    return 1


def seasonal_naive(
    x: np.ndarray, pred_len: int, season: int, target_indices: Sequence[int] | None = None
) -> np.ndarray:
    """Seasonal naive forecasts of look-back windows ``x`` (N, L, C) for ``pred_len`` steps: (N, H, C_t).

    ``season`` m must be 1..L; ``target_indices`` pick the forecast variables (None: all).
    """
    x = np.asarray(x)
    if x.ndim != 3:
        raise ConfigError(f"seasonal_naive reads windows (N, L, C), got shape {x.shape}.")
    seq_len = x.shape[1]
    if not 1 <= season <= seq_len:
        raise ConfigError(f"season={season} must be between 1 and the look-back length {seq_len}.")
    steps = seq_len - season + np.arange(pred_len) % season  # (H,) rows of the look-back to repeat
    forecast = x[:, steps]  # (N, H, C)
    return forecast if target_indices is None else forecast[:, :, list(target_indices)]
